"""The instrumenter's output is pinned: instrumented bytes, schedule, layout and pc maps.

A rewrite that makes the instrumenter faster must not change what it produces (traces store
the schedule; cached instrumented modules are keyed by the input). The expected digests were
computed with the instrumenter as it was before it was optimised (commit dcf79fd), for each
module in tests/programs and each WAT program in tests/wat, plain and with `reads`.

A module whose own bytes changed (a rebuilt program, another wat2wasm) is skipped, not failed:
re-pin it with `python -m tests.record.test_instrument_pinned` after checking that the change
is the module's, not the instrumenter's.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import wasmtime

from ttd.record.instrument import Instrumented, instrument

ROOT = Path(__file__).resolve().parents[1]

# name: (sha256 of the module, digest of instrument(), digest of instrument(reads=True))
PINNED = {
    "bench_lz.wasm": (
        "5433ad9210acdd4278abfc4c3e945eaa2a90fc6f984a0bd7fcc8c5c6c2f7d68a",
        "79a0d0e74c10a65dbb9f4bde2876c3bc95a996c65159c0563ded61d67274671f",
        "e0124d097522aebf5753dd475be7f748406d43302160d7313c0ae112aca30ca1"),
    "bench_lz_o2.wasm": (
        "7231026e694a97c73d53cd8899a4d3bfb36fbb4c7d7eeb9ea7a5a28127375191",
        "d5dd4d6ea4951639b7f3d395e8f540192825a2b809ce993f4b137215bc3bae62",
        "915d9e4102cf3878deae47f63868939705d1eefddd65207a3325b9a09babd0b8"),
    "bench_recurse.wasm": (
        "bbadd54f0f8a14f3957ef3a08e2a424b29563330e2350b833646432af4e6fbfa",
        "a3015267bab45b261ebfa0849038274c400c8ffda698c5d282a6975552f9e736",
        "586d0f25dba611b90dc85b03c0aacb905407cb6b5416c6fdb9d7f13d0c32ad8d"),
    "bench_recurse_o2.wasm": (
        "9a2c989bcc8634f4899f6cedfe575a1b1756556064571e5305aadb2841f0c1ce",
        "2b6a3342b989862b81018ac647b56c8a79eec98820acb9b2d5f5ab80ea3936d5",
        "77a2e55a20c36a4cc01ad28e474b13752851977bb7c494228c5b4a00b07dd050"),
    "bench_sieve.wasm": (
        "7f7529bb678bc99964a67320bf99570132d73b44737d082345d6f30ae96a3174",
        "4c36f631139c7c8df9517dc79328a24969a5aa8b45100dbd0a00d145e7ae42d5",
        "7545b95522b03dd00eafd32261750e51747e82946d55c8e1199986040ed2e369"),
    "bench_sieve_o2.wasm": (
        "9f0f2e15c485554a1527e20e314a20ac84590bd8316b6ac3814a8dd5b2441a05",
        "00c81ea0d84c73be6c1560c98befc4ffe032f2902b9714f658217bebdbd1f004",
        "7020b1f2f5e9b1774f22f6e960c0c099c44ecb34e2b7d4c3807ed97341ad7f66"),
    "bench_sort.wasm": (
        "d9c1b73560720145eaa8183081f7ca4aeb4177290747b65016310dc0648dc224",
        "80a859fbd4ba1b73a9f0dd1dc6fd4a11910e77172b4595efd4135ab2dca3e57f",
        "a4fb6de1c6b56c5ac61935ae40349dbc652bea68de0ac05b52ded4e658893e30"),
    "bench_sort_o2.wasm": (
        "520ed995a44ebdd2e50813fcd359033f9d8238aae90f3614b069df41ada2da9b",
        "9efd8bc982aab69a6fe012a08e781597ad33050daeeb663d327779888da95bd8",
        "4e242483bf5f6575c8d2ccfe34b0fe9d05fcda2b0269d901ad692d65a2e726ea"),
    "envargs.wasm": (
        "22a193b2697d7e645c9a565b6c0703034a37e792aab46566ffef1fd0226e3171",
        "fa2da0e4d221cce373ac91b3760274bd754f082f8a87e1cbf56c8de28e5a224d",
        "a9193a87b6957a627cb9b60386f1427c1c88ae62ba391ee57ad11da97389c275"),
    "exit3.wasm": (
        "bf3d55bd56e15b3054c58f03372a956ff2b0b0680d84c915fbfb6cb04eac5424",
        "de491a7c16b7c7574070a0404604ad81ec6cb9ae55e1d819b4da2230060aa708",
        "2d448e5a7beab27ded385e00c8c471603c27d2180f9da9985d1a989a96ffa2d5"),
    "fib.wasm": (
        "d38a90c464daf4360471af5bfd4f8ec14d3d03a59e3d3ff4b7cbe82eade78487",
        "a825d990e4ca2afacd36a4b29718a3d575f2b70d5d95373d6e101e225d6b2556",
        "387cbf137f6f2d3147b46590aff842d17b814ffcf562046d48ec43d19c9910f5"),
    "files.wasm": (
        "ca83d75927ed869f720281a55b4a51d1b9d79a3d7324b786ff4a22e0c03e52c7",
        "e994927b80b53566def312e8dc193fe8dc52f00120a84166120c99d2741037e1",
        "fc2c6984f1bd4a72c5a5d3eacfa3b9fdd3a23e9351540be408e8590dc61fa003"),
    "heap.wasm": (
        "0b1a3ebb5784d2f593a962cc03bee4389fc838e22835ccb7738cbd446d6d41a9",
        "f156bb8e3a75f25b245d0b315566474463f7d0be5c6116fbaeb2d82a47ea293c",
        "e87a4659ec3fe7b78f974d1a260689a43805cf2889e9d2ccd05fbbf602eed063"),
    "opstack.wasm": (
        "65eeaa362c7565dee08428ff34ef5c66e7ae7585695718bdcf013e55caedf5d6",
        "109819edcd6de7bd31189bedf84d3fd72c9a97779d84145e92ddb1fba775cf5d",
        "14561fac953bbd6bccd1aa54e64b1c2043a53fd733a43372927f254343a0cd92"),
    "sqlite_driver.wasm": (
        "182b84ea3525aa8e93e249f05b5eba33b99535b0e9770f287c064b7eb4a46f55",
        "5bda8d84bc1650513ac5bb285e5ee9961fe89252386c6f79986a54fd88ce9ab0",
        "cd8212d35d7b55005d04f452a92122d278648bf4e5fb8737a3b90b426681be75"),
    "stdin_wc.wasm": (
        "891ee1f70e4ee8295519a0a6722bb6b7ab0f39c85b516760755727b9fb8bf7c0",
        "05fa5e053742ce2249d02857ebe9f65c58fc2efd18597bda1d4938c36a59bbca",
        "95cf7bc0da040a487b19defb58911ba140ec7bba16a4bd609c29310363a3406f"),
    "strings.wasm": (
        "e8c5a00255941b8dc6e6505469cc51a00f9fb804e981d9ad7c10c63135c4f3d6",
        "674f9907856856219cb5683dbb4e5d3e6a0d377fbcfad96d1949b15865c33b8b",
        "c615609060699fdbde03a443abdb1febba60da7198deab174225d4a8c5c1a3c6"),
    "trap.wasm": (
        "0f85dbc1c73c380021d85706eb6485ec7a34fa8620778c6e4a5aa5da90dd62b9",
        "caf39184c42a4663a9d399f14de678ba157f2c2b6c415a193c5b1b50bd1c391d",
        "ce5b3f14ad3274e6b317427a899bec5453b49dba1ae7b1cfcf3cb924516af4de"),
    "wild.wasm": (
        "df21ff6f7f4c797615b99fd81d168e9163ab00592e3e7e0649d5a3aec0cd6b00",
        "6595898259590bed45f6995261dfa7c4df368ae4ac482faa065850a6c68e02be",
        "a7ac10f3e1d9b7bf66f33fd7aa667c971a6a8560fb2d8df72997aa3e7fba581a"),
    "zlib_example.wasm": (
        "12add4a6e11ed536ae09760ec08136daafb0d6aaf70cb153780db795a4e7294e",
        "1f3e1c3ddff7796241c2c24b0e7baab2b934d6fd1c5ce8646c396ee18ae7aac8",
        "f7879a84cc79966a28a2293424a49b919460392c8a10c1b2a82d05dd4b3f482e"),
    "bulk.wat": (
        "74d21eba952079734308c094f5b10e410e8ab201f72db3be08259878631cc6b7",
        "602fcee6c078822b999ae6773a41ad1c2ce73ff5c4f6413b86b6747b2b8df95b",
        "eb8d50d1a0c1ec4973ee27ae2e97e0231f44d0afcb511222c205ba7cb0402e1e"),
    "calls.wat": (
        "e086420df02a4a26774f1e0eeae6846be9751beb2fadf2088472c73d0b4ee3d8",
        "a50c298ceff63a0674e3f80f66916a0d7182b62d3a736334f8a7be1bfa8b070e",
        "a50c298ceff63a0674e3f80f66916a0d7182b62d3a736334f8a7be1bfa8b070e"),
    "control.wat": (
        "df785a98e8f6aebe202411f543c6886ba3f9e595da5a75173ad3c821ac0d8c88",
        "9047ea5ff839f0591cdfb1650e137c89aa013fc278743f723d997d9a43afab14",
        "9047ea5ff839f0591cdfb1650e137c89aa013fc278743f723d997d9a43afab14"),
    "exceptions.wat": (
        "a1692c47971a3c5b20ead04a41c79bb18545b78a6e8a112a7545539050daf367",
        "2f6623c6bb388d54bb4d8804b8a689c01fade80ee581146fc3afea3d1aa28474",
        "2f6623c6bb388d54bb4d8804b8a689c01fade80ee581146fc3afea3d1aa28474"),
    "locals_globals.wat": (
        "7699d12b3689131484d2d506355cc03bf02cbc02bfa57a17c3b82f65cd9f3afa",
        "ed3d7656c343307455f4ba543cb184367aaeece8fe99c316a7d493de17714094",
        "ed3d7656c343307455f4ba543cb184367aaeece8fe99c316a7d493de17714094"),
    "memory.wat": (
        "8fb3df9250acb578b8ec55c58e8f949bed5955f8d937a37075f1ee402e51853b",
        "04142b941eb62012480e8fbe065d25d0a316affbcd8f1bd02c637d8264c83b93",
        "f72fd229218d41444f03fad573511704175e6f41326bc9d0ce002d204b14cbd3"),
    "multimemory.wat": (
        "d83af071f7dfa5a3704e8d140c75732ee7fbf39476c0549d59d339d5830cf514",
        "c5b8afa95787afb926d0a85864589da50d1239172740e697825467bbe723db95",
        "8e6b43cbc344d847db20694076a0816799670087ff89f63c56446a6dba605a82"),
    "multivalue.wat": (
        "2382c9d561335a2a78b1312f8f8d88e64e1f354ef107ec2c566f1fdaad86383a",
        "c95d1df50e18900fb44ab56cdba20b9636dc5ecb8bbc8c6e56afd3e49b0804d9",
        "c95d1df50e18900fb44ab56cdba20b9636dc5ecb8bbc8c6e56afd3e49b0804d9"),
    "numeric.wat": (
        "7675b1c61724f3169d81317ff51d9dce5b7f6d87b3c63e968b4481c0059a63b2",
        "d2145159143b001758484723fed5ab1cb4c3f26ec9a67086c1e18c6b703ca195",
        "d2145159143b001758484723fed5ab1cb4c3f26ec9a67086c1e18c6b703ca195"),
    "reftypes.wat": (
        "6cbc54a410d15cd41f5056fdce499ef67d4b06aed3934719ce1c91985652d3af",
        "cd1decf04b1f611dc67bc738e1c8132e5432a7d7b74d47b067328c7d5a001a63",
        "cd1decf04b1f611dc67bc738e1c8132e5432a7d7b74d47b067328c7d5a001a63"),
    "satconv.wat": (
        "21625037146f1524edeb1a3691355683863b14674e3f9192d69c9db183f5b954",
        "f735c64a7a2bdbda9928146582f2411f751d6036874f2fb16db17a04ba3940ab",
        "f735c64a7a2bdbda9928146582f2411f751d6036874f2fb16db17a04ba3940ab"),
    "signext.wat": (
        "5a79418a87214919a1a61b64ce5bda15b7cbd1ba6345df82948a15c4dd0ccef9",
        "5572bc639a89c5f00672d3330ebe91976da3024ee1f6edded22fe3d3f26c4385",
        "5572bc639a89c5f00672d3330ebe91976da3024ee1f6edded22fe3d3f26c4385"),
    "simd.wat": (
        "d184b8ec97c570e5dce46bf256464744239d865808ecf3ec18d3716128b68dce",
        "59a34d3c0b574642bdd6f0d2b6a1b82938d9d79cd04f38038eb065b28fc02d01",
        "152cb184cb1faf45e51eeffce2cdb60199a76ceb6e4465403eb00a6fca62898b"),
    "tailcall.wat": (
        "054f096901772ffb647423c14fc688ef81adc2fdfe7120b28b4baa3882288a4f",
        "6afd51525a680138c850ebb477114b65eed56c5b283c5c156639d436e7818d3f",
        "6afd51525a680138c850ebb477114b65eed56c5b283c5c156639d436e7818d3f"),
    "trap.wat": (
        "649f3ad6a67d0588ed4f8fa71c24299c55e4919d1f86b4a8e8e908dd504f7bab",
        "5355f8556d94184b7a4275f04acbca0e6d3bf2faab13c1cb73f5604b04efedb4",
        "638361cb4604e408f882ac0c4f5457b98b67e34d792f28e924c813faed6c1ef2"),
}


def module_bytes(name: str) -> bytes | None:
    if name.endswith(".wat"):
        p = ROOT / "wat" / name
        return wasmtime.wat2wasm(p.read_text()) if p.exists() else None
    p = ROOT / "programs" / name
    return p.read_bytes() if p.exists() else None


def digest(inst: Instrumented) -> str:
    h = hashlib.sha256()
    h.update(inst.wasm)
    h.update(json.dumps(inst.schedule.to_wire(), sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps([inst.map_new, inst.map_orig]).encode())
    lay = inst.layout
    h.update(repr((lay.id_cap, lay.val_base, lay.val_cap, lay.pages, lay.trace_memory,
                   lay.tpi_global, lay.tpv_global, lay.hook_table, lay.hook_types, lay.id_base,
                   lay.dirty_maps, inst.start_func)).encode())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(PINNED))
def test_instrumented_output_is_unchanged(name):
    data = module_bytes(name)
    if data is None:
        pytest.skip(f"{name} is not there")
    want_in, want_plain, want_reads = PINNED[name]
    if hashlib.sha256(data).hexdigest() != want_in:
        pytest.skip(f"{name} itself changed: re-pin it")
    assert digest(instrument(data)) == want_plain
    assert digest(instrument(data, reads=True)) == want_reads


def test_every_program_is_pinned():
    names = {p.name for p in (ROOT / "programs").glob("*.wasm")}
    names |= {p.name for p in (ROOT / "wat").glob("*.wat")}
    assert names <= set(PINNED), f"not pinned: {sorted(names - set(PINNED))}"


if __name__ == "__main__":  # print the table for the modules there are now
    for p in sorted((ROOT / "programs").glob("*.wasm")) + sorted((ROOT / "wat").glob("*.wat")):
        data = module_bytes(p.name)
        print(f'    "{p.name}": (\n        "{hashlib.sha256(data).hexdigest()}",\n'
              f'        "{digest(instrument(data))}",\n'
              f'        "{digest(instrument(data, reads=True))}"),', file=sys.stdout)
