"""The instrumenter's output is pinned: instrumented bytes, schedule, layout and pc maps.

A rewrite that makes the instrumenter faster must not change what it produces (traces store
the schedule; cached instrumented modules are keyed by the input). The expected digests were
computed with the instrumenter as it was before it was optimised (commit dcf79fd), for each
module in tests/programs and each WAT program in tests/wat, plain and with `reads`; re-pinned
when the call-depth counter was added (ttd.record.depth: code at every function entry and
exit, two globals; the schedule and the original pcs did not change, only the bytes and
where instructions landed).

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
        "50597adcf65848b06ee1d11022b68ac1956ab0d792e8208b0c1761258019a5c3",
        "0f900b9254524a61e7bd693c976a536253ba62a95ee3a903561943f0d83dfeec"),
    "bench_lz_o2.wasm": (
        "7231026e694a97c73d53cd8899a4d3bfb36fbb4c7d7eeb9ea7a5a28127375191",
        "0f6f93ca77a8b5aa9bdbd5e565b806fa2fcb8c31081c98ef39ce0b85d5886a27",
        "1911073e3649861691205abb6940804f9b57ea7a75f1d0c7a44cbe7d1c39c614"),
    "bench_recurse.wasm": (
        "bbadd54f0f8a14f3957ef3a08e2a424b29563330e2350b833646432af4e6fbfa",
        "58ab40f1a98bb126a6a7bc9c35bfafe5d669c0cc7559e46af5edbeee116a1119",
        "d6d4d336d48b5a80df1632691ad8062d2bea4d2d453265dd03f463dd99467541"),
    "bench_recurse_o2.wasm": (
        "9a2c989bcc8634f4899f6cedfe575a1b1756556064571e5305aadb2841f0c1ce",
        "c346cec967ae0ac7436e1279495f7b289474f057fd41375ec5a885dc4e185e89",
        "13106da2d071bf18dd41f1c4d9b8dc46d0ffcbcf9735490f45b4ecbf25cfd2db"),
    "bench_sieve.wasm": (
        "7f7529bb678bc99964a67320bf99570132d73b44737d082345d6f30ae96a3174",
        "e8d68d34a2a2f7f14bb1ba09ab57a83ff18246f564e00c6b240e57e538d897df",
        "41a085d9b3190ed58c87879f70385eb1d6c9c4a9f77b08f58c15e9659d30c303"),
    "bench_sieve_o2.wasm": (
        "9f0f2e15c485554a1527e20e314a20ac84590bd8316b6ac3814a8dd5b2441a05",
        "17f4947cab0f3a172a22a00b2ff56328f5f821c5686e923c6cb5cd98c78ecbf5",
        "24e91766b0aba89b152f1b4be1e533b3d070bb8d848e8d82e9e4c932691f3e5d"),
    "bench_sort.wasm": (
        "d9c1b73560720145eaa8183081f7ca4aeb4177290747b65016310dc0648dc224",
        "23c8c0d99c2d6156444951df9368c5cf8f2706d44756b6d8e9358ebbfa102eaa",
        "b5f64d7a0db66e6cbe045d350aee6061c88ae6704a4a9bd95351a67cb9996a08"),
    "bench_sort_o2.wasm": (
        "520ed995a44ebdd2e50813fcd359033f9d8238aae90f3614b069df41ada2da9b",
        "41ee20609522360d52ec03e12ec1daffa16675e909e824c281118ac694bfd3d6",
        "3d4bcfa0caa9c22277dd08e171081c306bce52cb78be9f61cc70e9846a3773ce"),
    "bench_trap.wasm": (
        "10c5770780616bf7e0e4805cec90f206f44db4afd93ebcbc97d68b90964f1179",
        "44bebefcbec6afcefde1f430686b0f768545661272c2d7b8568b6229439866a9",
        "8930bb7a71e489d311a535501ddb778b6c90b3eae2c7e53b7b4a31302f6d6ff3"),
    "envargs.wasm": (
        "22a193b2697d7e645c9a565b6c0703034a37e792aab46566ffef1fd0226e3171",
        "a3eb6ae1add6b793f3f81a1967c4a157b90cc41344e6f9f1ea8310263d80e495",
        "23e79745744c3526d75925621f85f45638538f068cb9dee34ce8e7c90e68a6cc"),
    "exit3.wasm": (
        "bf3d55bd56e15b3054c58f03372a956ff2b0b0680d84c915fbfb6cb04eac5424",
        "00344cb2c08fe40475249235c7fe23ad307f122096394bd9d93fb220b335f543",
        "796cc3f1e1f1ac56afa41b9f5ba38710b8fce440de4a5c773727740dfc565d83"),
    "fib.wasm": (
        "d38a90c464daf4360471af5bfd4f8ec14d3d03a59e3d3ff4b7cbe82eade78487",
        "365cfe5b03a5a320980d514142ee00ef60cf2961a6cefd01b43443658cbfd29b",
        "930ae1a2ee65d73cf6812a2ba897839d55270e5834804c520633fa2706100139"),
    "files.wasm": (
        "ca83d75927ed869f720281a55b4a51d1b9d79a3d7324b786ff4a22e0c03e52c7",
        "bc36e6e14fa19e60a0fb5bbfd7bb1a66bdeed0c81d24e804655536eceac3a90b",
        "1de280b4f00e78f39f3e1c82cf265e8b8892462430c2b78910128cfc95f6a89b"),
    "heap.wasm": (
        "0b1a3ebb5784d2f593a962cc03bee4389fc838e22835ccb7738cbd446d6d41a9",
        "bae514a2d0242b402ace88642f545c1331a769fe46d29edf9812c692aa12189d",
        "3905f90fc028bcac7df07d09bb74a29d5759502a7cb4976cdc2311d218a6aaac"),
    "inlined.wasm": (
        "18c57d9025dc6848a65138cbb87781c8004c4d271978c6d51b1fb7048de55859",
        "d2999e70b311dfe585beb727cb8b1e210e9455b8a178ec780c725a8f193a0a10",
        "9069de2db23f73fcc56544f3076e9c68a4e67b501e037ba342c22e8467caeda2"),
    "opstack.wasm": (
        "65eeaa362c7565dee08428ff34ef5c66e7ae7585695718bdcf013e55caedf5d6",
        "9265d3c96101317266a00fd7c9566dd6f4b3ced3e3b078c8a1a63cec4b11c66f",
        "efb4f191707b010750a8ab297e6ad5a949c9c996b6f9be4b14f175d590149293"),
    "sqlite_driver.wasm": (
        "182b84ea3525aa8e93e249f05b5eba33b99535b0e9770f287c064b7eb4a46f55",
        "d01162feee6b4846d2f654cc73fef0286bd3d05a9f07eea101f725db57c9484b",
        "5da31214f50ccaae7980ed65721ffb12d67bc68149307c65073596293e1a0eaf"),
    "stdin_wc.wasm": (
        "891ee1f70e4ee8295519a0a6722bb6b7ab0f39c85b516760755727b9fb8bf7c0",
        "f1ad8b0bf467c9266527e8519a4f43353c9c448d297c8b7ce5dd3bbaa4ee8fb7",
        "df0d6b80909862db564acbd06216a1fd0e21be0a87aa09f1e8527faf3920ab60"),
    "strings.wasm": (
        "e8c5a00255941b8dc6e6505469cc51a00f9fb804e981d9ad7c10c63135c4f3d6",
        "94b8bda16d70105a89e1290b1fdbc78e92ef78884b35c5b5194fdaf0f8649e2c",
        "a8d09d9c9d31bbe90515a7d0063279ac2a08d50564e7120480184dc03473fdcf"),
    "trap.wasm": (
        "0f85dbc1c73c380021d85706eb6485ec7a34fa8620778c6e4a5aa5da90dd62b9",
        "7905e0c71d87459dc8e1e3ea8018c678c4fe11fbc1ab07c149df3ed66e7db0bc",
        "67916cd0e3dfb25a231db065ae40bb9a3492ed6d4e8758fa49c5781e72b8ba8c"),
    "wild.wasm": (
        "df21ff6f7f4c797615b99fd81d168e9163ab00592e3e7e0649d5a3aec0cd6b00",
        "a265a59d71694e89ff5eab11d0cca27a90af914377b70d3641ec9acc9401fab4",
        "ce5ee37f9f6e90908bcfec2f820027b21283924dc1d0021e78fd040d218615ac"),
    "zlib_example.wasm": (
        "12add4a6e11ed536ae09760ec08136daafb0d6aaf70cb153780db795a4e7294e",
        "7d7d0a0e7efe343b71b1cbf3c1cecce66b2462d95f54ba82223722c75acb7682",
        "206e9b6f7d30ff980a37df7010d7d62bfb718d5c7cc08b273fe4772cf8283594"),
    "bulk.wat": (
        "74d21eba952079734308c094f5b10e410e8ab201f72db3be08259878631cc6b7",
        "4183a1c781fd4ee6de9b034353283951dd9333a2901f71fc74bf04e812139f03",
        "5fa5f17dc0dcdeec1b459534ad4e32e2db0a8e0f034a38b59819d29ceddf1a8f"),
    "calls.wat": (
        "e086420df02a4a26774f1e0eeae6846be9751beb2fadf2088472c73d0b4ee3d8",
        "c5839afcb117efc53dcf32a156436f0fbc6f18154fb2003d3b889ccceeffbd1b",
        "c5839afcb117efc53dcf32a156436f0fbc6f18154fb2003d3b889ccceeffbd1b"),
    "control.wat": (
        "df785a98e8f6aebe202411f543c6886ba3f9e595da5a75173ad3c821ac0d8c88",
        "c3e5d9e086a2117a36bff552ec77cec5d90bf3914f2be667cc05ffa0bc828da9",
        "c3e5d9e086a2117a36bff552ec77cec5d90bf3914f2be667cc05ffa0bc828da9"),
    "exceptions.wat": (
        "a1692c47971a3c5b20ead04a41c79bb18545b78a6e8a112a7545539050daf367",
        "81abcd34af026ed3738b0bc8716ec68fc469775377ed34516f8f05c8776b3950",
        "81abcd34af026ed3738b0bc8716ec68fc469775377ed34516f8f05c8776b3950"),
    "locals_globals.wat": (
        "7699d12b3689131484d2d506355cc03bf02cbc02bfa57a17c3b82f65cd9f3afa",
        "7ea00870308d95c66428734c30671f2249b838e0704d3d06b0d4d56f319312d5",
        "7ea00870308d95c66428734c30671f2249b838e0704d3d06b0d4d56f319312d5"),
    "memory.wat": (
        "8fb3df9250acb578b8ec55c58e8f949bed5955f8d937a37075f1ee402e51853b",
        "37cbe26e4dcd51b96c61a5b2116d7b42da7906c0de14f889df57364047b6c3cb",
        "34b485609be6cadc8c089400f32eca46843c2e26877011159367b6cd480ef4ea"),
    "multimemory.wat": (
        "d83af071f7dfa5a3704e8d140c75732ee7fbf39476c0549d59d339d5830cf514",
        "5b320abdec2d97ef5ad805ba6778067fbf764068363ce91b778cd86a4f4681c6",
        "5cde84bf49e33ac7b2153d1844139157bd28858fc621078a43244c74a8b11704"),
    "multivalue.wat": (
        "2382c9d561335a2a78b1312f8f8d88e64e1f354ef107ec2c566f1fdaad86383a",
        "7ce46302c0d10a30a93a440e1fa796475bdb1f8cc8b58b584ac7091398c3fd60",
        "7ce46302c0d10a30a93a440e1fa796475bdb1f8cc8b58b584ac7091398c3fd60"),
    "numeric.wat": (
        "7675b1c61724f3169d81317ff51d9dce5b7f6d87b3c63e968b4481c0059a63b2",
        "ab2f5f1aeb3b0235833eb943c08788ddcc55ab2f21ad608ef8cc75facd021850",
        "ab2f5f1aeb3b0235833eb943c08788ddcc55ab2f21ad608ef8cc75facd021850"),
    "reftypes.wat": (
        "6cbc54a410d15cd41f5056fdce499ef67d4b06aed3934719ce1c91985652d3af",
        "e52dd3a8bf3e51c271b20ba3f70e43d5dd178c45f7ac7b66b53584ffae79915f",
        "e52dd3a8bf3e51c271b20ba3f70e43d5dd178c45f7ac7b66b53584ffae79915f"),
    "satconv.wat": (
        "21625037146f1524edeb1a3691355683863b14674e3f9192d69c9db183f5b954",
        "ebd63d06526b2bcb46e44f014d9fd4b878d9f985e13e92abfa6cc8ad74274a58",
        "ebd63d06526b2bcb46e44f014d9fd4b878d9f985e13e92abfa6cc8ad74274a58"),
    "signext.wat": (
        "5a79418a87214919a1a61b64ce5bda15b7cbd1ba6345df82948a15c4dd0ccef9",
        "7619b77b04c20a5e2f4342a8b1c28be3ea28c5ba9f4dd7dc6c9115a1aa7d15f7",
        "7619b77b04c20a5e2f4342a8b1c28be3ea28c5ba9f4dd7dc6c9115a1aa7d15f7"),
    "simd.wat": (
        "d184b8ec97c570e5dce46bf256464744239d865808ecf3ec18d3716128b68dce",
        "005600ccbfc64da4a22e745c9eb37e25436001cabe00fe3a3a74d94a2e50e97c",
        "cffff98a6b2a708edfe3efa8de4e7edf7ffa071e2b77041fa79f7f18f7f9fa17"),
    "tailcall.wat": (
        "054f096901772ffb647423c14fc688ef81adc2fdfe7120b28b4baa3882288a4f",
        "54574ce6d48d5ae6b9351adb3214b2eaa6cc0faf92d7f6f93b36a0562752bfa4",
        "54574ce6d48d5ae6b9351adb3214b2eaa6cc0faf92d7f6f93b36a0562752bfa4"),
    "trap.wat": (
        "649f3ad6a67d0588ed4f8fa71c24299c55e4919d1f86b4a8e8e908dd504f7bab",
        "07fc760de1014f4458f49eb53fab3d9defa6924d0dc3ee190ab24441211fffec",
        "98bb2d38ef48f84505a46936e3137efd233d56abeaf9be0409f2b3ed00934469"),
    "labelcatch.wat": (
        "12c33013451177f43fee6b0a25422e25ea4845d809e88950a4cca5c568baa615",
        "63f11f15bee9646fa7ac7614580259b84bccc58504c4a14a7d9ec0acf9505666",
        "63f11f15bee9646fa7ac7614580259b84bccc58504c4a14a7d9ec0acf9505666"),
    "trycalls.wat": (
        "a831baed2734d6aa9e05a143ab0115b29f6213ee3928d8fe6e28aa167fbe3d59",
        "e10ce8bd3220a480be5fde795a941253c7cad60be282b0a1a182b01ea999e843",
        "e10ce8bd3220a480be5fde795a941253c7cad60be282b0a1a182b01ea999e843"),
    "names.wasm": (
        "5f14c399d2653b5bed2be00b11bcc3bb65c8f6dffb265b2c46fc407567f9e765",
        "a42ddb56273713a0e17233746bd81efa1c14ad7e04e3432fb7c60b8e2a1f237d",
        "d046049400dc0f360c59a12ef5c0e323401184c0af1511b47ab91748019c2491"),
    "lua.wasm": (
        "93e72e605da730b867fccc5c0afddfcdf452d7bb2df0232bc145a1887e7dbe79",
        "5a4dd99baefe4d310b1fd72663ed00b39bad79db2243911cdbb997f5f3d06717",
        "eab733565bf20df8490ad15340da3bebedcf52c226a919b4a10ab80eaa33aa1c"),
    "rust_algos.wasm": (
        "a867f6c5b265471657e6e5bfdebd7470c89787907a391b51aae9ff837e88d8fa",
        "61d0989ae6e8908898d3a87b9158e60b1b1453cbe478b754be92bb2da22f145a",
        "dc0cb8e9ccbb00d992f8b76d0ca7251b7442daeae2964a5a2e3d231c4d0d5214"),
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
                   lay.dirty_maps, inst.start_func, lay.depth_global, lay.limit_global)).encode())
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
