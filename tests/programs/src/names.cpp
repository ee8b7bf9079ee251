// names.cpp: C++ functions whose wasm names are Itanium-mangled (a namespace, a const
// method, two overloads of lookup) and a libc strcmp (zig's wasi-libc names it
// c.string.strcmp, its DWARF strcmp); the last lookup misses and traps three calls deep
// (an out-of-bounds load), for the names ttd prints and accepts.
#include <cstdio>
#include <cstring>

namespace panicky {

struct Catalog {
    int keys[4];
    int find(int key) const;
};

int Catalog::find(int key) const {
    for (int i = 0; i < 4; i++) {
        if (keys[i] == key) {
            return i;
        }
    }
    return *(volatile int *)0xfffffff0u;  // a key that is not there: out of bounds
}

int lookup(const Catalog &c, int key) { return c.find(key); }

int lookup(const Catalog &c, const char *name) {
    return c.find(strcmp(name, "seven") == 0 ? 7 : 5);
}

}  // namespace panicky

int main() {
    setvbuf(stdout, nullptr, _IONBF, 0);  // what was printed before the trap is seen
    panicky::Catalog c{{3, 5, 7, 11}};
    printf("find 5: %d\n", panicky::lookup(c, 5));
    printf("find seven: %d\n", panicky::lookup(c, "seven"));
    printf("find 4: %d\n", panicky::lookup(c, 4));
    return 0;
}
