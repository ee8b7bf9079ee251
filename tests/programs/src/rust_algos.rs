// Driver for three modules of TheAlgorithms/Rust (MIT licence, see
// rust_algos.LICENSE.txt): Huffman coding (BTreeMap, BinaryHeap, boxed tree,
// recursion), Aho-Corasick (Rc<RefCell<..>>, BTreeMap, VecDeque) and run-length
// encoding (String building, parse). build.py fetches the modules at a pinned
// commit; only this driver is kept here.
//
//   rust_algos.wasm [TEXT]          encode/decode TEXT (default: a sentence)
//   rust_algos.wasm decode CODE     run-length decode CODE; "ab" panics inside
//                                   run_length_decoding (an unwrap on an empty
//                                   number): a wasm `unreachable` trap, exit 134
//
// Deterministic: no HashMap (its RandomState would read WASI randomness), so a
// live run steps through the same code as any other.

#[path = "thealgorithms/general/huffman_encoding.rs"]
mod huffman_encoding;
#[path = "thealgorithms/string/aho_corasick.rs"]
mod aho_corasick;
#[path = "thealgorithms/string/run_length_encoding.rs"]
mod run_length_encoding;

use std::collections::BTreeMap;
use std::env;
use std::process;

use aho_corasick::AhoCorasick;
use huffman_encoding::HuffmanDictionary;
use run_length_encoding::{run_length_decoding, run_length_encoding};

const DEFAULT_TEXT: &str = "the quick brown fox jumps over the lazy dog; the dog sleeps";

fn frequencies(text: &str) -> Vec<(u8, u64)> {
    let mut counts: BTreeMap<u8, u64> = BTreeMap::new();
    for b in text.bytes() {
        *counts.entry(b).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn huffman_report(text: &str) -> usize {
    let freq = frequencies(text);
    let dict = match HuffmanDictionary::new(&freq) {
        Some(dict) => dict,
        None => {
            println!("huffman: empty text");
            return 0;
        }
    };
    let mut codes: Vec<String> = Vec::new();
    for (symbol, code) in dict.alphabet.iter().take(6) {
        let bits: String = (0..code.bits)
            .map(|i| if code.value & (1 << i) != 0 { '1' } else { '0' })
            .collect();
        codes.push(format!("{:?}={}", *symbol as char, bits));
    }
    println!("huffman: {} symbols, codes {}", freq.len(), codes.join(" "));
    let encoded = dict.encode(text.as_bytes());
    let decoded = encoded.decode(&dict).expect("a valid encoding");
    let permille = encoded.num_bits * 1000 / (8 * text.len() as u64);
    println!(
        "huffman: {} bits in {} words ({}.{}% of the input), round trip {}",
        encoded.num_bits,
        encoded.data.len(),
        permille / 10,
        permille % 10,
        if decoded == text.as_bytes() { "ok" } else { "BROKEN" }
    );
    encoded.num_bits as usize
}

fn search_report(text: &str) -> usize {
    let patterns = ["the", "he", "dog", "fox", "o", "zzz"];
    let automaton = AhoCorasick::new(&patterns);
    let found = automaton.search(text);
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for word in &found {
        *tally.entry(word).or_default() += 1;
    }
    let summary: Vec<String> = tally.iter().map(|(w, n)| format!("{}x{}", w, n)).collect();
    println!("aho-corasick: {} matches: {}", found.len(), summary.join(", "));
    found.len()
}

fn rle_report(text: &str) -> usize {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut sorted: Vec<char> = squeezed.chars().collect();
    sorted.sort_unstable();
    let sorted: String = sorted.into_iter().collect();
    let encoded = run_length_encoding(&sorted);
    let decoded = run_length_decoding(&encoded);
    println!("rle: {} -> {} chars: {}", sorted.len(), encoded.len(), encoded);
    assert_eq!(decoded, sorted, "run-length round trip");
    encoded.len()
}

fn decode_command(code: &str) {
    let decoded = run_length_decoding(code);
    println!("decoded {:?} -> {:?}", code, decoded);
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("decode") {
        match args.get(1) {
            Some(code) => decode_command(code),
            None => {
                eprintln!("usage: rust_algos decode CODE");
                process::exit(2);
            }
        }
        return;
    }
    let text = if args.is_empty() { DEFAULT_TEXT.to_string() } else { args.join(" ") };
    let bits = huffman_report(&text);
    let matches = search_report(&text);
    let rle = rle_report(&text);
    println!("total: {}", bits + matches + rle);
}
