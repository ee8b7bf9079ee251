"""Parsing of a core WebAssembly module into an index of its sections and entities.

The parser records absolute byte ranges (sections, bodies, init expressions,
segments) rather than re-encoding anything, because the instrumenter rebuilds
modules by copying most of the original bytes verbatim, and the debugger maps
pcs (absolute file offsets) back to functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from collections.abc import Iterator

from .errors import WasmError
from .leb import read_sleb, read_uleb
from .operators import Operator, iter_operators, read_const_expr
from .valtypes import (
    FUNCREF,
    FuncType,
    RefType,
    ValType,
    read_valtype,
    valtype_size,
)

__all__ = [
    "ValType",
    "RefType",
    "FuncType",
    "CompositeType",
    "valtype_size",
    "MemoryType",
    "TableType",
    "GlobalType",
    "Global",
    "Import",
    "Export",
    "FunctionBody",
    "Section",
    "ElementSegment",
    "DataSegment",
    "TypeEntry",
    "Module",
    "parse_module",
    "SECTION_NAMES",
    "MAX_LOCALS",
]

WASM_MAGIC = b"\x00asm"
WASM_VERSION = b"\x01\x00\x00\x00"

SECTION_NAMES: dict[int, str] = {
    0: "custom",
    1: "type",
    2: "import",
    3: "function",
    4: "table",
    5: "memory",
    6: "global",
    7: "export",
    8: "start",
    9: "element",
    10: "code",
    11: "data",
    12: "datacount",
    13: "tag",
}
# Required relative order of the non-custom sections.
_SECTION_ORDER: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

KIND_NAMES: dict[int, str] = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
KIND_CODES: dict[str, int] = {v: k for k, v in KIND_NAMES.items()}

# Same limit as wasmparser/wasmtime; bounds memory use on malicious inputs.
MAX_LOCALS = 50_000


@dataclass(frozen=True)
class CompositeType:
    """A non-function GC/stack-switching type ("struct", "array", "cont") kept as raw bytes."""

    kind: str
    offset: int  # absolute offset of the composite type's first byte
    end: int
    # storage types of a struct's fields / an array's element ("i8", "i16" or a value type)
    fields: tuple = ()


@dataclass(frozen=True)
class TypeEntry:
    """One top-level entry of the type section (a rec group or a single sub type).

    ``offset``/``end`` delimit its bytes so a rewriter can copy it verbatim;
    it defines types ``first_index .. first_index + count - 1``.
    """

    offset: int
    end: int
    first_index: int
    count: int


@dataclass(frozen=True)
class MemoryType:
    """Limits and flags of a linear memory (min/max in pages of 2**page_size_log2 bytes)."""

    minimum: int
    maximum: int | None
    shared: bool
    is64: bool
    page_size_log2: int = 16
    has_page_size: bool = False  # whether the custom page size was explicitly encoded


@dataclass(frozen=True)
class TableType:
    """Element type and limits of a table."""

    elem: ValType
    minimum: int
    maximum: int | None
    is64: bool
    shared: bool = False


@dataclass(frozen=True)
class GlobalType:
    """Content type and mutability of a global."""

    valtype: ValType
    mutable: bool
    shared: bool = False


@dataclass(frozen=True)
class Global:
    """A defined global; its init expression's bytes are [init_offset, init_end) (incl. end)."""

    type: GlobalType
    init_offset: int
    init_end: int


@dataclass(frozen=True)
class Import:
    """An import; ``desc`` is a type index (func/tag) or Table/Memory/GlobalType."""

    module: str
    name: str
    kind: str
    desc: int | TableType | MemoryType | GlobalType


@dataclass(frozen=True)
class Export:
    """An export of entity ``index`` of ``kind`` ("func", "table", "memory", "global", "tag")."""

    name: str
    kind: str
    index: int


@dataclass
class FunctionBody:
    """Location of a defined function's code; all offsets absolute in the module bytes."""

    index: int  # function index space (imports included)
    type_index: int
    offset: int  # the body-size LEB
    body_start: int  # first byte after the size
    locals_start: int  # the locals vector (== body_start)
    code_start: int  # first instruction
    end: int  # one past the final ``end`` opcode
    locals: list[tuple[int, ValType]]  # declared (count, type) groups
    local_types: list[ValType]  # params then declared locals, expanded


@dataclass(frozen=True)
class Section:
    """A section: ``offset`` is its id byte, payload is [start, end)."""

    id: int
    offset: int
    start: int
    end: int
    name: str | None = None  # custom sections only
    content_start: int = -1  # custom sections: first byte after the name; else == start

    def __post_init__(self) -> None:
        if self.content_start < 0:
            object.__setattr__(self, "content_start", self.start)

    @property
    def kind(self) -> str:
        """Human-readable section kind ("type", "code", "custom", ...)."""
        return SECTION_NAMES.get(self.id, f"unknown({self.id})")


@dataclass(frozen=True)
class ElementSegment:
    """An element segment, kept as a raw byte range plus what the debugger needs.

    ``func_indices`` lists the function index of each item (None for a
    ``ref.null`` item) when every item is a funcidx or a ``ref.func``/
    ``ref.null`` expression; otherwise it is None.
    """

    offset: int  # first byte of the segment (its flags)
    end: int
    flags: int
    mode: str  # "active" | "passive" | "declarative"
    table: int
    offset_expr: tuple[int, int] | None  # absolute range of the offset expr (active only)
    elem_type: ValType
    count: int
    func_indices: tuple[int | None, ...] | None
    item_exprs: tuple[tuple[int, int], ...] | None  # byte ranges of expression items


@dataclass(frozen=True)
class DataSegment:
    """A data segment; the payload bytes are data[data_start:data_end]."""

    offset: int  # first byte of the segment (its flags)
    end: int
    mode: str  # "active" | "passive"
    memory: int
    offset_expr: tuple[int, int] | None
    data_start: int
    data_end: int


@dataclass
class Module:
    """A parsed core module: entity lists plus absolute byte ranges into ``data``."""

    data: bytes
    sections: list[Section] = field(default_factory=list)
    types: list[FuncType | CompositeType] = field(default_factory=list)
    type_entries: list[TypeEntry] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    functions: list[int] = field(default_factory=list)  # type index of each DEFINED function
    tables: list[TableType] = field(default_factory=list)  # defined tables
    table_inits: list[tuple[int, int] | None] = field(default_factory=list)  # init expr ranges
    memories: list[MemoryType] = field(default_factory=list)  # defined memories
    globals: list[Global] = field(default_factory=list)  # defined globals
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elements: list[ElementSegment] = field(default_factory=list)
    data_segments: list[DataSegment] = field(default_factory=list)
    data_count: int | None = None
    tags: list[int] = field(default_factory=list)  # type index of each DEFINED tag
    bodies: list[FunctionBody] = field(default_factory=list)
    func_names: dict[int, str] = field(default_factory=dict)
    local_names: dict[int, dict[int, str]] = field(default_factory=dict)
    module_name: str | None = None
    custom_sections: list[Section] = field(default_factory=list)

    # ``data`` is the brief's name for the data segments too; keep both spellings
    # without shadowing the module bytes.
    @property
    def datas(self) -> list[DataSegment]:
        """Alias of ``data_segments``."""
        return self.data_segments

    def _imports_of(self, kind: str) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    @cached_property
    def imported_funcs(self) -> list[Import]:
        """Function imports, in function-index order."""
        return self._imports_of("func")

    @cached_property
    def imported_globals(self) -> list[Import]:
        """Global imports, in global-index order."""
        return self._imports_of("global")

    @cached_property
    def imported_memories(self) -> list[Import]:
        """Memory imports, in memory-index order."""
        return self._imports_of("memory")

    @cached_property
    def imported_tables(self) -> list[Import]:
        """Table imports, in table-index order."""
        return self._imports_of("table")

    @cached_property
    def imported_tags(self) -> list[Import]:
        """Tag imports, in tag-index order."""
        return self._imports_of("tag")

    @property
    def num_imported_funcs(self) -> int:
        """Defined function i has function index num_imported_funcs + i."""
        return len(self.imported_funcs)

    @property
    def num_imported_globals(self) -> int:
        """Defined global i has global index num_imported_globals + i."""
        return len(self.imported_globals)

    @property
    def num_imported_memories(self) -> int:
        """Defined memory i has memory index num_imported_memories + i."""
        return len(self.imported_memories)

    @property
    def num_imported_tables(self) -> int:
        """Defined table i has table index num_imported_tables + i."""
        return len(self.imported_tables)

    @property
    def num_imported_tags(self) -> int:
        """Defined tag i has tag index num_imported_tags + i."""
        return len(self.imported_tags)

    @property
    def num_funcs(self) -> int:
        """Size of the function index space."""
        return self.num_imported_funcs + len(self.functions)

    @property
    def num_globals(self) -> int:
        """Size of the global index space."""
        return self.num_imported_globals + len(self.globals)

    @property
    def num_memories(self) -> int:
        """Size of the memory index space."""
        return self.num_imported_memories + len(self.memories)

    @property
    def num_tables(self) -> int:
        """Size of the table index space."""
        return self.num_imported_tables + len(self.tables)

    def func_type_index(self, funcidx: int) -> int:
        """Type index of a function (imported or defined)."""
        n = self.num_imported_funcs
        if 0 <= funcidx < n:
            desc = self.imported_funcs[funcidx].desc
            assert isinstance(desc, int)
            return desc
        if n <= funcidx < n + len(self.functions):
            return self.functions[funcidx - n]
        raise WasmError(f"function index {funcidx} out of range")

    def func_type(self, funcidx: int) -> FuncType:
        """Signature of a function (imported or defined)."""
        return self.type_at(self.func_type_index(funcidx))

    def type_at(self, typeidx: int) -> FuncType:
        """The function type at ``typeidx`` (WasmError if it is not a function type)."""
        if not 0 <= typeidx < len(self.types):
            raise WasmError(f"type index {typeidx} out of range")
        t = self.types[typeidx]
        if not isinstance(t, FuncType):
            raise WasmError(f"type {typeidx} is a {t.kind} type, not a function type")
        return t

    def global_type(self, idx: int) -> GlobalType:
        """Type of a global (imported or defined)."""
        n = self.num_imported_globals
        if 0 <= idx < n:
            desc = self.imported_globals[idx].desc
            assert isinstance(desc, GlobalType)
            return desc
        if n <= idx < n + len(self.globals):
            return self.globals[idx - n].type
        raise WasmError(f"global index {idx} out of range")

    def memory_type(self, idx: int) -> MemoryType:
        """Type of a memory (imported or defined)."""
        n = self.num_imported_memories
        if 0 <= idx < n:
            desc = self.imported_memories[idx].desc
            assert isinstance(desc, MemoryType)
            return desc
        if n <= idx < n + len(self.memories):
            return self.memories[idx - n]
        raise WasmError(f"memory index {idx} out of range")

    def table_type(self, idx: int) -> TableType:
        """Type of a table (imported or defined)."""
        n = self.num_imported_tables
        if 0 <= idx < n:
            desc = self.imported_tables[idx].desc
            assert isinstance(desc, TableType)
            return desc
        if n <= idx < n + len(self.tables):
            return self.tables[idx - n]
        raise WasmError(f"table index {idx} out of range")

    def tag_type(self, idx: int) -> FuncType:
        """Signature (params) of an exception tag."""
        n = self.num_imported_tags
        if 0 <= idx < n:
            desc = self.imported_tags[idx].desc
            assert isinstance(desc, int)
            return self.type_at(desc)
        if n <= idx < n + len(self.tags):
            return self.type_at(self.tags[idx - n])
        raise WasmError(f"tag index {idx} out of range")

    @cached_property
    def _export_func_names(self) -> dict[int, str]:
        names: dict[int, str] = {}
        for e in self.exports:
            if e.kind == "func":
                names.setdefault(e.index, e.name)
        return names

    def function_name(self, idx: int) -> str:
        """Name for display: name section, else export name, else ``func[idx]``."""
        name = self.func_names.get(idx)
        if name is not None:
            return name
        name = self._export_func_names.get(idx)
        if name is not None:
            return name
        return f"func[{idx}]"

    def body(self, funcidx: int) -> FunctionBody:
        """Body of a defined function by function index."""
        i = funcidx - self.num_imported_funcs
        if not 0 <= i < len(self.bodies):
            raise WasmError(f"function {funcidx} has no body (imported or out of range)")
        return self.bodies[i]

    def operators(self, funcidx: int) -> Iterator[Operator]:
        """Decode the instructions of a defined function."""
        b = self.body(funcidx)
        return iter_operators(self.data, b.code_start, b.end)

    @cached_property
    def _body_starts(self) -> list[int]:
        return [b.offset for b in self.bodies]

    def function_at(self, offset: int) -> FunctionBody | None:
        """The body containing absolute file offset ``offset`` (a pc), if any."""
        import bisect

        i = bisect.bisect_right(self._body_starts, offset) - 1
        if i >= 0:
            b = self.bodies[i]
            if b.offset <= offset < b.end:
                return b
        return None

    def section(self, id: int) -> Section | None:
        """The (first) section with this id."""
        for s in self.sections:
            if s.id == id:
                return s
        return None

    def custom(self, name: str) -> list[Section]:
        """Custom sections with this name, in file order."""
        return [s for s in self.custom_sections if s.name == name]

    def section_bytes(self, s: Section) -> bytes:
        """The complete encoding of a section (id, size and payload) for verbatim copying."""
        return self.data[s.offset : s.end]

    def export_of(self, kind: str, index: int) -> list[str]:
        """Names under which entity (kind, index) is exported."""
        return [e.name for e in self.exports if e.kind == kind and e.index == index]


class _Reader:
    """Cursor over the module bytes that turns every out-of-range read into WasmError."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def _need(self, n: int) -> None:
        if self.pos + n > self.end:
            raise WasmError("unexpected end of section or function", self.pos)

    def byte(self) -> int:
        self._need(1)
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int:
        self._need(1)
        return self.buf[self.pos]

    def u32(self) -> int:
        self._need(1)
        v, p = read_uleb(self.buf, self.pos, 32)
        if p > self.end:
            raise WasmError("unexpected end of section or function", self.pos)
        self.pos = p
        return v

    def u64(self) -> int:
        self._need(1)
        v, p = read_uleb(self.buf, self.pos, 64)
        if p > self.end:
            raise WasmError("unexpected end of section or function", self.pos)
        self.pos = p
        return v

    def s33(self) -> int:
        self._need(1)
        v, p = read_sleb(self.buf, self.pos, 33)
        if p > self.end:
            raise WasmError("unexpected end of section or function", self.pos)
        self.pos = p
        return v

    def count(self, what: str) -> int:
        """A vector length, sanity-checked against the bytes left (each item >= 1 byte)."""
        at = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise WasmError(f"{what} count {n} exceeds the remaining section size", at)
        return n

    def bytes_(self, n: int) -> bytes:
        self._need(n)
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def name(self) -> str:
        at = self.pos
        n = self.u32()
        raw = self.bytes_(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WasmError("malformed UTF-8 encoding in name", at) from None

    def valtype(self) -> ValType:
        vt, p = read_valtype(self.buf, self.pos)
        if p > self.end:
            raise WasmError("unexpected end of section", self.pos)
        self.pos = p
        return vt

    def const_expr(self) -> tuple[int, int]:
        start = self.pos
        _, p = read_const_expr(self.buf, start, self.end)
        self.pos = p
        return start, p

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise WasmError(f"{what} section size mismatch: {self.end - self.pos} unparsed bytes", self.pos)


def _memory_type(r: _Reader) -> MemoryType:
    at = r.pos
    flags = r.byte()
    if flags & ~0b1111:
        raise WasmError(f"invalid memory limits flags 0x{flags:02x}", at)
    is64 = bool(flags & 0b100)
    shared = bool(flags & 0b010)
    read = r.u64 if is64 else r.u32
    minimum = read()
    maximum = read() if flags & 1 else None
    page_size_log2 = 16
    has_page = bool(flags & 0b1000)
    if has_page:
        page_at = r.pos
        page_size_log2 = r.u32()
        if page_size_log2 >= 64:
            raise WasmError("invalid custom page size", page_at)
    return MemoryType(minimum, maximum, shared, is64, page_size_log2, has_page)


def _table_type(r: _Reader) -> TableType:
    elem = r.valtype()
    if not isinstance(elem, RefType):
        raise WasmError(f"table element type must be a reference type, got {elem}", r.pos - 1)
    at = r.pos
    flags = r.byte()
    if flags & ~0b111:
        raise WasmError(f"invalid table limits flags 0x{flags:02x}", at)
    is64 = bool(flags & 0b100)
    read = r.u64 if is64 else r.u32
    minimum = read()
    maximum = read() if flags & 1 else None
    return TableType(elem, minimum, maximum, is64, bool(flags & 0b010))


def _global_type(r: _Reader) -> GlobalType:
    vt = r.valtype()
    at = r.pos
    flags = r.byte()
    if flags > 0b11:
        raise WasmError("malformed global flags", at)
    return GlobalType(vt, bool(flags & 1), bool(flags & 2))


def _func_type_body(r: _Reader) -> FuncType:
    params = tuple(r.valtype() for _ in range(r.count("param")))
    results = tuple(r.valtype() for _ in range(r.count("result")))
    return FuncType(params, results)


def _storage_type(r: _Reader):
    b = r.peek()
    if b in (0x78, 0x77):  # i8 / i16 packed
        r.pos += 1
        return "i8" if b == 0x78 else "i16"
    return r.valtype()


def _field_type(r: _Reader):
    st = _storage_type(r)
    at = r.pos
    if r.byte() > 1:
        raise WasmError("malformed mutability byte for field type", at)
    return st


def _composite_type(r: _Reader, opcode: int) -> FuncType | CompositeType:
    start = r.pos - 1
    if opcode == 0x65:  # shared
        opcode = r.byte()
    if opcode == 0x4C:  # describes
        r.u32()
        opcode = r.byte()
    if opcode == 0x4D:  # descriptor
        r.u32()
        opcode = r.byte()
    if opcode == 0x60:
        return _func_type_body(r)
    if opcode == 0x5F:
        fields = tuple(_field_type(r) for _ in range(r.count("struct field")))
        return CompositeType("struct", start, r.pos, fields)
    if opcode == 0x5E:
        elem = _field_type(r)
        return CompositeType("array", start, r.pos, (elem,))
    if opcode == 0x5D:
        idx = r.s33()
        if idx < 0:
            raise WasmError("invalid continuation type", start)
        return CompositeType("cont", start, r.pos)
    raise WasmError(f"invalid leading byte 0x{opcode:02x} for type", start)


def _sub_type(r: _Reader) -> FuncType | CompositeType:
    opcode = r.byte()
    if opcode in (0x50, 0x4F):
        at = r.pos
        n = r.count("supertype")
        if n > 1:
            raise WasmError("multiple supertypes not supported", at)
        for _ in range(n):
            r.u32()
        opcode = r.byte()
    return _composite_type(r, opcode)


def _parse_types(m: Module, r: _Reader) -> None:
    for _ in range(r.count("type")):
        start = r.pos
        first = len(m.types)
        if r.peek() == 0x4E:
            r.pos += 1
            for _ in range(r.count("rec group type")):
                m.types.append(_sub_type(r))
        else:
            m.types.append(_sub_type(r))
        m.type_entries.append(TypeEntry(start, r.pos, first, len(m.types) - first))


def _parse_imports(m: Module, r: _Reader) -> None:
    for _ in range(r.count("import")):
        module = r.name()
        name = r.name()
        at = r.pos
        kind = r.byte()
        desc: int | TableType | MemoryType | GlobalType
        if kind == 0:
            desc = r.u32()
        elif kind == 1:
            desc = _table_type(r)
        elif kind == 2:
            desc = _memory_type(r)
        elif kind == 3:
            desc = _global_type(r)
        elif kind == 4:
            if r.byte() != 0:
                raise WasmError("invalid tag attribute", r.pos - 1)
            desc = r.u32()
        else:
            raise WasmError(f"invalid import kind 0x{kind:02x}", at)
        m.imports.append(Import(module, name, KIND_NAMES[kind], desc))


def _parse_tables(m: Module, r: _Reader) -> None:
    for _ in range(r.count("table")):
        if r.peek() == 0x40:
            r.pos += 1
            if r.byte() != 0:
                raise WasmError("invalid table encoding", r.pos - 1)
            m.tables.append(_table_type(r))
            m.table_inits.append(r.const_expr())
        else:
            m.tables.append(_table_type(r))
            m.table_inits.append(None)


def _parse_elements(m: Module, r: _Reader) -> None:
    data = r.buf
    for _ in range(r.count("element segment")):
        seg_start = r.pos
        flags = r.u32()
        if flags & ~0b111:
            raise WasmError("invalid flags in element segment", seg_start)
        table = 0
        offset_expr = None
        if flags & 1:
            mode = "declarative" if flags & 2 else "passive"
        else:
            mode = "active"
            if flags & 2:
                table = r.u32()
            offset_expr = r.const_expr()
        exprs = bool(flags & 4)
        elem_type: ValType = FUNCREF
        if flags & 3:
            if exprs:
                elem_type = r.valtype()
            else:
                at = r.pos
                if r.byte() != 0:
                    raise WasmError("only the function external kind is supported in elem segments", at)
        n = r.count("element")
        funcs: list[int | None] | None = []
        item_exprs: list[tuple[int, int]] | None = None
        if exprs:
            item_exprs = []
            for _ in range(n):
                s = r.pos
                ops, p = read_const_expr(data, s, r.end)
                r.pos = p
                item_exprs.append((s, p))
                if funcs is not None:
                    if len(ops) == 2 and ops[0].name == "ref.func":
                        funcs.append(ops[0].imm[0])
                    elif len(ops) == 2 and ops[0].name == "ref.null":
                        funcs.append(None)
                    else:
                        funcs = None
        else:
            assert funcs is not None
            for _ in range(n):
                funcs.append(r.u32())
        m.elements.append(
            ElementSegment(
                offset=seg_start,
                end=r.pos,
                flags=flags,
                mode=mode,
                table=table,
                offset_expr=offset_expr,
                elem_type=elem_type,
                count=n,
                func_indices=tuple(funcs) if funcs is not None else None,
                item_exprs=tuple(item_exprs) if item_exprs is not None else None,
            )
        )


def _parse_data(m: Module, r: _Reader) -> None:
    for _ in range(r.count("data segment")):
        seg_start = r.pos
        flags = r.u32()
        memory = 0
        offset_expr = None
        if flags == 1:
            mode = "passive"
        elif flags in (0, 2):
            mode = "active"
            if flags == 2:
                memory = r.u32()
            offset_expr = r.const_expr()
        else:
            raise WasmError(f"invalid flags {flags} in data segment", seg_start)
        n = r.u32()
        start = r.pos
        r.bytes_(n)
        m.data_segments.append(DataSegment(seg_start, r.pos, mode, memory, offset_expr, start, r.pos))


def _parse_code(m: Module, r: _Reader) -> None:
    at = r.pos
    n = r.count("function body")
    if n != len(m.functions):
        raise WasmError(
            f"function and code section have inconsistent lengths ({len(m.functions)} vs {n})", at
        )
    nimp = m.num_imported_funcs
    data = r.buf
    for i in range(n):
        offset = r.pos
        size = r.u32()
        body_start = r.pos
        body_end = body_start + size
        if body_end > r.end:
            raise WasmError("function body extends past the end of the code section", offset)
        type_index = m.functions[i]
        t = m.types[type_index] if 0 <= type_index < len(m.types) else None
        if not isinstance(t, FuncType):
            raise WasmError(f"function {nimp + i} has invalid type index {type_index}", offset)
        br = _Reader(data, body_start, body_end)
        groups: list[tuple[int, ValType]] = []
        local_types: list[ValType] = list(t.params)
        total = 0
        for _ in range(br.count("local group")):
            gat = br.pos
            cnt = br.u32()
            vt = br.valtype()
            total += cnt
            if total > MAX_LOCALS:
                raise WasmError(f"too many locals (limit {MAX_LOCALS})", gat)
            groups.append((cnt, vt))
            local_types.extend([vt] * cnt)
        code_start = br.pos
        if code_start >= body_end or data[body_end - 1] != 0x0B:
            raise WasmError("function body must end with an end opcode", max(body_end - 1, body_start))
        m.bodies.append(
            FunctionBody(
                index=nimp + i,
                type_index=type_index,
                offset=offset,
                body_start=body_start,
                locals_start=body_start,
                code_start=code_start,
                end=body_end,
                locals=groups,
                local_types=local_types,
            )
        )
        r.pos = body_end


def _parse_name_map(r: _Reader) -> dict[int, str]:
    out: dict[int, str] = {}
    for _ in range(r.count("name")):
        idx = r.u32()
        out[idx] = r.name()
    return out


def _parse_names(m: Module, s: Section) -> None:
    """Read the "name" custom section; malformed content is ignored (it is only debug info)."""
    r = _Reader(m.data, s.content_start, s.end)
    while r.pos < r.end:
        try:
            sub_id = r.byte()
            size = r.u32()
            end = r.pos + size
            if end > r.end:
                return
        except WasmError:
            return
        sr = _Reader(m.data, r.pos, end)
        try:
            if sub_id == 0:
                m.module_name = sr.name()
            elif sub_id == 1:
                m.func_names.update(_parse_name_map(sr))
            elif sub_id == 2:
                locals_: dict[int, dict[int, str]] = {}
                for _ in range(sr.count("function")):
                    fidx = sr.u32()
                    locals_[fidx] = _parse_name_map(sr)
                m.local_names.update(locals_)
        except WasmError:
            pass
        r.pos = end


def parse_module(data: bytes) -> Module:
    """Parse a core wasm module; raise WasmError (with offset) on anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_module needs bytes")
    data = bytes(data)
    if len(data) < 8:
        raise WasmError("file too short to be a WebAssembly module", 0 if len(data) < 4 else 4)
    if data[:4] != WASM_MAGIC:
        raise WasmError("not a WebAssembly binary (bad magic number)", 0)
    if data[4:8] != WASM_VERSION:
        if data[6:8] == b"\x01\x00":
            raise WasmError(
                "this is a WebAssembly component, not a core module; components are not supported", 4
            )
        raise WasmError(f"unsupported WebAssembly version {data[4:8].hex()}", 4)
    m = Module(data=data)
    pos = 8
    n = len(data)
    last_order = 0
    seen_ids: set[int] = set()
    handlers = {
        1: _parse_types,
        2: _parse_imports,
        4: _parse_tables,
        9: _parse_elements,
        10: _parse_code,
        11: _parse_data,
    }
    while pos < n:
        sec_offset = pos
        sec_id = data[pos]
        size, start = read_uleb(data, pos + 1, 32)
        end = start + size
        if end > n:
            raise WasmError(f"{SECTION_NAMES.get(sec_id, 'unknown')} section extends past end of file", sec_offset)
        if sec_id == 0:
            nr = _Reader(data, start, end)
            name = nr.name()
            s = Section(0, sec_offset, start, end, name, nr.pos)
            m.sections.append(s)
            m.custom_sections.append(s)
            pos = end
            continue
        order = _SECTION_ORDER.get(sec_id)
        if order is None:
            raise WasmError(f"unknown section id {sec_id}", sec_offset)
        if sec_id in seen_ids:
            raise WasmError(f"duplicate {SECTION_NAMES[sec_id]} section", sec_offset)
        if order < last_order:
            raise WasmError(f"{SECTION_NAMES[sec_id]} section out of order", sec_offset)
        seen_ids.add(sec_id)
        last_order = order
        s = Section(sec_id, sec_offset, start, end)
        m.sections.append(s)
        r = _Reader(data, start, end)
        handler = handlers.get(sec_id)
        if handler is not None:
            handler(m, r)
        elif sec_id == 3:
            m.functions = [r.u32() for _ in range(r.count("function"))]
        elif sec_id == 5:
            m.memories = [_memory_type(r) for _ in range(r.count("memory"))]
        elif sec_id == 13:
            for _ in range(r.count("tag")):
                if r.byte() != 0:
                    raise WasmError("invalid tag attribute", r.pos - 1)
                m.tags.append(r.u32())
        elif sec_id == 6:
            for _ in range(r.count("global")):
                gt = _global_type(r)
                s0, e0 = r.const_expr()
                m.globals.append(Global(gt, s0, e0))
        elif sec_id == 7:
            for _ in range(r.count("export")):
                name = r.name()
                at = r.pos
                kind = r.byte()
                if kind not in KIND_NAMES:
                    raise WasmError(f"invalid export kind 0x{kind:02x}", at)
                m.exports.append(Export(name, KIND_NAMES[kind], r.u32()))
        elif sec_id == 8:
            m.start = r.u32()
        elif sec_id == 12:
            m.data_count = r.u32()
        r.expect_end(SECTION_NAMES[sec_id])
        pos = end
    if m.functions and 10 not in seen_ids:
        raise WasmError("function section has entries but the code section is missing", len(data))
    if m.data_count is not None and m.data_count != len(m.data_segments):
        sec = m.section(12)
        raise WasmError("data count and data section have inconsistent lengths", sec.offset if sec else None)
    for s in m.custom_sections:
        if s.name == "name":
            _parse_names(m, s)
            break
    return m
