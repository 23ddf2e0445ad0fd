"""The one module that compiles CUDA: NVRTC for sm_90a, kernel instances chosen by name expressions.

Kernels live in ``fp8cuda/kernels/*.cu`` / ``*.cuh`` (package data). A *source* argument below is either
the file name of a kernel there (``"quantize.cu"``) or CUDA source text. Template parameters are picked
by NVRTC name expressions (``"fp8cuda::quantize_row_regs<__nv_bfloat16, 256, 4, false>"``), never by
string substitution.

API (small and stable; the GEMM code uses it too):

``compile_offline(source, name_expressions, arch="sm_90a", options=()) -> CompileResult``
    Compile to a CUBIN on any machine (no GPU needed; cuda-bindings NVRTC). The result has ``.cubin``
    (bytes), ``.log`` (NVRTC + ``ptxas -v`` log), ``.lowered`` ({expression: mangled name}) and, per
    expression, ``.sass`` (cuobjdump text), ``.registers``, ``.spills`` ((store bytes, load bytes)),
    ``.stack`` (stack frame bytes) and ``.shared`` (static shared memory bytes).
``get_kernel(source, name_expression, options=()) -> cupy.RawKernel``
    Compile (or fetch from cache) and load one kernel instance for the current device.
``kernel_options(arch=None, options=()) -> tuple[str, ...]``
    The exact NVRTC options used by both functions above.

Why not ``cupy.RawModule(code=...)``: CuPy appends ``-ftz=true`` and its own ``-arch=sm_XX`` after the
caller's options (cupy/cuda/compiler.py), which would flush subnormals and drop the ``a`` suffix that
wgmma needs. So the CUBIN is built here with NVRTC, exactly as ``compile_offline`` builds the one the
SASS tests inspect, and loaded with ``cupy.RawModule(path=...)``; the kernel is then looked up by the
lowered (mangled) name NVRTC reports for the expression. If cuda-bindings is missing, the fallback is
``cupy.RawModule(code=..., name_expressions=...)``; the kernels therefore do their float arithmetic
through PTX wrappers (``div.rn.f32`` ...) that ``-ftz=true`` cannot change.

Caching: compiled CUBINs are kept in memory and on disk (``FP8CUDA_CACHE_DIR``, default
``~/.cache/fp8cuda``) under a key over the source, every option, the NVRTC version and the expression.
The options contain ``-DFP8CUDA_KERNELS_HASH=<sha256 of every file in kernels/>``, so editing any
included header changes the key (CuPy's disk cache does not hash headers). Architecture: ``arch``
argument, else ``FP8CUDA_ARCH``, else ``sm_90a``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KERNEL_DIR", "CompileError", "CompileResult", "compile_offline", "get_kernel", "kernel_options",
    "kernels_hash", "find_cuobjdump",
]

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
DEFAULT_ARCH = "sm_90a"


class CompileError(RuntimeError):
    """NVRTC rejected the source; the message holds the compiler log."""


@functools.lru_cache(maxsize=1)
def kernels_hash() -> str:
    """sha256 over the names and contents of every file in kernels/ (the header-change cache key).
    Computed once per process: kernel files are package data and do not change under a running program."""
    h = hashlib.sha256()
    for p in sorted(KERNEL_DIR.iterdir()):
        if p.is_file() and p.suffix in (".cu", ".cuh", ".h"):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _read_source(source: str) -> tuple[str, str]:
    """(text, file name for diagnostics) of a kernel file name in kernels/ or of literal source text."""
    if "\n" not in source and source.endswith((".cu", ".cuh")):
        path = KERNEL_DIR / source
        if not path.is_file():
            raise FileNotFoundError(f"source: no kernel file {source!r} in {KERNEL_DIR}")
        return path.read_text(), source
    return source, "fp8cuda_source.cu"


def _arch(arch: str | None) -> str:
    arch = arch or os.environ.get("FP8CUDA_ARCH") or DEFAULT_ARCH
    if not re.fullmatch(r"sm_\d+[af]?", arch):
        raise ValueError(f"arch: expected a real architecture such as 'sm_90a', got {arch!r}")
    return arch


def kernel_options(arch: str | None = None, options=()) -> tuple[str, ...]:
    """NVRTC options: C++17, CUBIN for ``arch``, IEEE float (no -ftz, -prec-div=true), kernels/ on the
    include path, the kernels' hash as a macro, then the caller's ``options``."""
    return (
        "-std=c++17",
        f"--gpu-architecture={_arch(arch)}",
        "-ftz=false", "-prec-div=true", "-prec-sqrt=true",  # NVRTC's defaults, stated: the spec's IEEE float32
        "--device-as-default-execution-space",
        f"-I{KERNEL_DIR}",
        f"-DFP8CUDA_KERNELS_HASH=0x{kernels_hash()[:16]}",
        "--ptxas-options=-v",
        *tuple(options),
    )


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as e:  # pragma: no cover - environment dependent
        raise ImportError("fp8cuda needs cuda-bindings (`pip install cuda-bindings`) to compile kernels") from e
    return nvrtc


def _check(err, what: str) -> None:
    if int(err) != 0:
        raise CompileError(f"{what} failed ({err})")


def _program_log(nvrtc, prog) -> str:
    _, n = nvrtc.nvrtcGetProgramLogSize(prog)
    buf = b" " * n
    nvrtc.nvrtcGetProgramLog(prog, buf)
    return buf.rstrip(b"\0 ").decode(errors="replace")


@functools.lru_cache(maxsize=None)
def nvrtc_version() -> tuple[int, int]:
    nvrtc = _nvrtc()
    _, major, minor = nvrtc.nvrtcVersion()
    return int(major), int(minor)


def _compile_cubin(text: str, filename: str, name_expressions, options) -> tuple[bytes, str, dict]:
    """One NVRTC compile: returns (cubin, log, {expression: lowered name})."""
    nvrtc = _nvrtc()
    err, prog = nvrtc.nvrtcCreateProgram(text.encode(), filename.encode(), 0, [], [])
    _check(err, "nvrtcCreateProgram")
    try:
        for expr in name_expressions:
            _check(nvrtc.nvrtcAddNameExpression(prog, expr.encode())[0], f"nvrtcAddNameExpression({expr!r})")
        opts = [o.encode() for o in options]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        log = _program_log(nvrtc, prog)
        if int(err) != 0:
            raise CompileError(f"NVRTC compile of {filename} failed ({err}); options {list(options)}:\n{log}")
        lowered = {}
        for expr in name_expressions:
            err, name = nvrtc.nvrtcGetLoweredName(prog, expr.encode())
            if int(err) != 0:
                raise CompileError(f"nvrtcGetLoweredName({expr!r}) failed ({err})")
            lowered[expr] = name.decode()
        err, n = nvrtc.nvrtcGetCUBINSize(prog)
        if int(err) != 0 or n == 0:
            raise CompileError(f"no CUBIN produced (options must name a real sm_XX architecture): {err}")
        cubin = b" " * n
        nvrtc.nvrtcGetCUBIN(prog, cubin)
        return bytes(cubin), log, lowered
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


# ---------------------------------------------------------------------------------------------- offline

def find_cuobjdump() -> str:
    """Path of cuobjdump: the nvidia-cuda-cuobjdump wheel (nvidia/cu13/bin, nvidia/cuda_cuobjdump/bin), else PATH.
    cuobjdump -sass runs nvdisasm, found beside it (nvidia-cuda-nvdisasm wheel) or on PATH."""
    candidates = []
    try:
        import nvidia  # namespace package of the NVIDIA wheels

        for root in nvidia.__path__:
            candidates += sorted(Path(root).glob("cu*/bin/cuobjdump")) + sorted(Path(root).glob("cuda_cuobjdump/bin/cuobjdump"))
    except ImportError:
        pass
    for c in candidates:
        if os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("cuobjdump")
    if found:
        return found
    raise FileNotFoundError("cuobjdump not found: install the nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm wheels")


def _sass_by_function(cubin: bytes) -> dict[str, str]:
    exe = find_cuobjdump()
    env = dict(os.environ)
    env["PATH"] = str(Path(exe).parent) + os.pathsep + env.get("PATH", "")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "k.cubin"
        path.write_bytes(cubin)
        out = subprocess.run([exe, "-sass", str(path)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"cuobjdump -sass failed: {out.stderr.strip()}")
    parts = re.split(r"^\s*Function : (\S+)\s*$", out.stdout, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _ptxas_stats(log: str) -> dict[str, dict]:
    """Per mangled kernel name: registers, spill stores/loads, stack frame, static shared memory (ptxas -v)."""
    stats: dict[str, dict] = {}
    current = None
    for line in log.splitlines():
        m = re.search(r"(?:Compiling entry function|Function properties for) '?([\w$]+)'?", line)
        if m:
            current = stats.setdefault(m.group(1), {"registers": 0, "spill_stores": 0, "spill_loads": 0, "stack": 0, "shared": 0})
            continue
        if current is None:
            continue
        if m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line):
            current["stack"], current["spill_stores"], current["spill_loads"] = map(int, m.groups())
        if m := re.search(r"Used (\d+) registers", line):
            current["registers"] = int(m.group(1))
        if m := re.search(r"(\d+) bytes smem", line):
            current["shared"] = int(m.group(1))
    return stats


@dataclass
class CompileResult:
    """What ``compile_offline`` returns; every dict is keyed by name expression."""

    cubin: bytes
    log: str
    options: tuple[str, ...]
    lowered: dict[str, str]
    sass: dict[str, str] = field(default_factory=dict)
    registers: dict[str, int] = field(default_factory=dict)
    spills: dict[str, tuple[int, int]] = field(default_factory=dict)
    stack: dict[str, int] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per kernel: registers, static shared memory, stack, spills."""
        return "\n".join(
            f"{expr}: {self.registers[expr]} regs, {self.shared[expr]} B smem, {self.stack[expr]} B stack, "
            f"spills {self.spills[expr][0]}/{self.spills[expr][1]} B (st/ld)"
            for expr in self.lowered
        )


def compile_offline(source: str, name_expressions, arch: str = DEFAULT_ARCH, options=()) -> CompileResult:
    """Compile ``name_expressions`` of ``source`` to a CUBIN for ``arch`` without a GPU and disassemble it."""
    text, filename = _read_source(source)
    name_expressions = list(name_expressions)
    opts = kernel_options(arch, options)
    cubin, log, lowered = _compile_cubin(text, filename, name_expressions, opts)
    sass = _sass_by_function(cubin)
    stats = _ptxas_stats(log)
    res = CompileResult(cubin=cubin, log=log, options=opts, lowered=lowered)
    for expr, name in lowered.items():
        s = stats.get(name, {"registers": 0, "spill_stores": 0, "spill_loads": 0, "stack": 0, "shared": 0})
        res.sass[expr] = sass.get(name, "")
        res.registers[expr] = s["registers"]
        res.spills[expr] = (s["spill_stores"], s["spill_loads"])
        res.stack[expr] = s["stack"]
        res.shared[expr] = s["shared"]
    return res


# ---------------------------------------------------------------------------------------------- runtime

def _cache_dir() -> Path:
    return Path(os.environ.get("FP8CUDA_CACHE_DIR") or Path.home() / ".cache" / "fp8cuda")


def _device_arch() -> str:
    import cupy

    cc = cupy.cuda.Device().compute_capability  # e.g. "90"
    return f"sm_{cc}" + ("a" if cc == "90" else "")  # sm_90a: Hopper's arch-specific features (wgmma)


@functools.lru_cache(maxsize=None)
def _load(text: str, filename: str, name_expression: str, options: tuple[str, ...]):
    import cupy

    try:
        _nvrtc()
    except ImportError:  # fallback: CuPy compiles (appends -ftz=true; the kernels are written to be immune)
        cupy_opts = tuple(o for o in options if not o.startswith(("--gpu-architecture", "-ftz", "--ptxas-options")))
        mod = cupy.RawModule(code=text, options=cupy_opts, name_expressions=(name_expression,))
        return mod.get_function(name_expression)
    key = hashlib.sha256(repr((text, options, nvrtc_version(), name_expression)).encode()).hexdigest()
    cache = _cache_dir()
    cubin_path = cache / f"{key}.cubin"
    name_path = cache / f"{key}.name"
    if not (cubin_path.is_file() and name_path.is_file()):
        cubin, _, lowered = _compile_cubin(text, filename, [name_expression], options)
        cache.mkdir(parents=True, exist_ok=True)
        for path, data in ((cubin_path, cubin), (name_path, lowered[name_expression].encode())):
            with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tf:  # atomic: write, then rename
                tf.write(data)
            os.replace(tf.name, path)
    mod = cupy.RawModule(path=str(cubin_path))
    return mod.get_function(name_path.read_text())


@functools.lru_cache(maxsize=None)
def _get_kernel(source: str, name_expression: str, options: tuple, arch_env: str | None):
    text, filename = _read_source(source)
    return _load(text, filename, name_expression, kernel_options(arch_env or _device_arch(), options))


def get_kernel(source: str, name_expression: str, options=()):
    """The ``cupy.RawKernel`` for one instance of ``source`` (kernel file name or text), built for the
    current device's architecture (``sm_90a`` on Hopper) unless ``FP8CUDA_ARCH`` says otherwise."""
    return _get_kernel(source, name_expression, tuple(options), os.environ.get("FP8CUDA_ARCH"))
