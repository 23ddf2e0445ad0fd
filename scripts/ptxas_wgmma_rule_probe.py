"""When does ptxas keep the wgmma pipeline while one accumulator half is read and the other's groups run?
(docs/notes-gemm.md v17; the overlap kernel's tile switch, kernels/gemm_sm90_halves.cuh.)

``python scripts/ptxas_wgmma_rule_probe.py [NAME ...]`` compiles small kernels offline (NVRTC, sm_90a) and prints,
per kernel, "clean" or ptxas's C75xx lines (C7514: every wgmma of the kernel serialized). Each kernel has two
m64n128 accumulator sets L and R; ``L(sc)`` / ``R(sc)`` issue one wgmma group writing that set (sc = 0 restarts
it), ``LR`` one group writing both, ``w(n)`` waits until at most n groups are pending, ``rd(X)`` reads X.
"""
import sys

from fp8cuda import _loader

HEAD = r"""
#include "ptx_sm90.cuh"
using namespace fp8cuda;
using H = WgmmaM64K32E4M3<128>;
__device__ __forceinline__ void issue(float (&d)[64], u64 a, u64 b, int sc) {
#pragma unroll
  for (int j = 0; j < 64; ++j) wgmma_fence_operand(d[j]);
  wgmma_fence();
  H::mma(d, a, b, sc);
  wgmma_commit_group();
}
__device__ __forceinline__ float rd(float (&d)[64]) {
  float s = 0;
#pragma unroll
  for (int j = 0; j < 64; ++j) { wgmma_fence_operand(d[j]); s += d[j]; }
  return s;
}
#define L(sc) issue(L, a, b, sc);
#define R(sc) issue(R, a, b, sc);
#define LR wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group();
#define w(n) wgmma_wait_group<n>();
extern "C" __global__ void __launch_bounds__(128, 1) k(float* out, u64 a, u64 b, int n) {
  float L[64], R[64];
  for (int j = 0; j < 64; ++j) { L[j] = 0; R[j] = 0; }
  float s = 0;
  int t = 0;
  bool more = true;
"""
TAIL = r"""
  w(0) s += rd(L) + rd(R);
  out[threadIdx.x] = s;
}
"""
KLOOP = "for (int kb = 0; kb < n; ++kb) { LR w(1) }"                # a tile's K blocks
LAST = "L(1) R(1) w(1)"                                               # its last K block as two groups
SWITCH = "s += rd(L); L(0) w(1) s += rd(R); R(0)"                     # read L, start L', read R, start R'

BODIES = {
    # a counted tile loop that switches every time; the group in flight at the loop head varies
    "for_R_head": f"L(0) R(0) for (; t < n; ++t) {{ {KLOOP} {LAST} {SWITCH} w(1) }}",
    "for_two_head": f"L(0) R(0) for (; t < n; ++t) {{ {KLOOP} {LAST} {SWITCH} }}",
    "for_drain_before_R": f"L(0) R(0) for (; t < n; ++t) {{ {KLOOP} {LAST} s += rd(L); L(0) w(0) s += rd(R); R(0) }}",
    # the v15 kernel's shape: switch only if there is a next tile, else drain
    "if_switch_else_drain": f"for (;;) {{ {KLOOP} {LAST} if (++t < n) {{ {SWITCH} w(1) continue; }} w(0) break; }}",
    "if_switch_drain_before_R": (f"for (;;) {{ {KLOOP} {LAST} if (++t < n) {{ s += rd(L); L(0) w(0) s += rd(R); "
                                 f"R(0) w(1) continue; }} w(0) break; }}"),
    # every tile switches (v17): which group is in flight at the loop head
    "while_R_head": f"L(0) R(0) while (more) {{ {KLOOP} {LAST} {SWITCH} w(1) more = ++t < n; }}",
    "while_LR_head": f"L(0) R(0) while (more) {{ {KLOOP} {LAST} {SWITCH} LR w(1) more = ++t < n; }}",
    "while_L_head": f"L(0) R(0) while (more) {{ {KLOOP} {LAST} {SWITCH} L(1) w(1) more = ++t < n; }}",
    "while_L_R_head": f"L(0) R(0) while (more) {{ {KLOOP} {LAST} {SWITCH} L(1) R(1) w(1) more = ++t < n; }}",
    # with the kernel's prologue (K blocks 0 and 1, one retired)
    "prologue_LR_head": f"LR LR w(1) while (more) {{ {KLOOP} {LAST} {SWITCH} LR w(1) more = ++t < n; }}",
    "prologue_R_head": f"LR L(1) R(1) w(1) while (more) {{ {KLOOP} {LAST} {SWITCH} L(1) R(1) w(1) more = ++t < n; }}",
    # control flow with two groups pending between commit and wait, or inside the K loop
    "spin_between": (f"L(0) R(0) for (; t < n; ++t) {{ {KLOOP} {LAST} s += rd(L); L(0) while (out[t] > 0.f) {{}} "
                     f"w(1) s += rd(R); R(0) w(1) }}"),
    "branch_in_kloop": (f"L(0) R(0) for (; t < n; ++t) {{ for (int kb = 0; kb < n; ++kb) {{ LR "
                        f"if (out[kb] > 0.f) out[kb + 1] = 0.f; w(1) }} {LAST} {SWITCH} w(1) }}"),
}


def main(names):
    for name in names or BODIES:
        res = _loader.compile_offline(HEAD + BODIES[name] + TAIL, ["k"])
        found = [line[line.index("("):][:110] for line in res.log.splitlines() if "C75" in line]
        print(f"{name:26s} {found or 'clean'}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
