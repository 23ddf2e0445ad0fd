"""Minimal kernels probing when ptxas keeps the wgmma pipeline (no C7514 serialization) around reads of one
accumulator half while wgmma groups writing the other are in flight (docs/notes-gemm.md v17).
``python scripts/ptxas_wgmma_rule_probe.py [NAME ...]``: compiles each body offline (NVRTC, sm_90a) and prints
"clean" or ptxas's C75xx lines. L, R: two m64n128 accumulator sets; issue(X, ..): one group writing X."""
import sys
from fp8cuda import _loader
HEAD = r'''
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
__device__ __forceinline__ float rd(float (&d)[64]) { float s = 0; 
  #pragma unroll
  for (int j = 0; j < 64; ++j) { wgmma_fence_operand(d[j]); s += d[j]; } return s; }
extern "C" __global__ void __launch_bounds__(128, 1) k(float* out, u64 a, u64 b, int n) {
  float L[64], R[64];
  for (int j = 0; j < 64; ++j) { L[j] = 0; R[j] = 0; }
  float s = 0;
'''
TAIL = r'''
  out[threadIdx.x] = s;
}
'''
bodies = {
 # the pattern: C=L, D=R; wait1; read L; E=L'; wait1; read R
 "straight": r'''
  issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
  issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R);
  wgmma_wait_group<0>(); s += rd(L);
''',
 "loop_before": r'''
  for (int i = 0; i < n; ++i) { issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); }
  issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
  issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R);
  wgmma_wait_group<0>(); s += rd(L);
''',
 "loop_around": r'''
  for (int i = 0; i < n; ++i) {
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R);
    issue(R, a, b, 0);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "loop_around_oneread": r'''
  for (int i = 0; i < n; ++i) {
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); issue(R, a, b, 0);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "loop_around_ov": r'''
  for (int i = 0; i < n; ++i) {
    issue(L, a, b, 1); wgmma_wait_group<1>();
    issue(R, a, b, 0); wgmma_wait_group<1>(); s += rd(L);
    issue(R, a, b, 1); wgmma_wait_group<1>();
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "a_loop_LR_readL": r'''
  for (int i = 0; i < n; ++i) { issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L); }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "c_oneread_wait1_end": r'''
  for (int i = 0; i < n; ++i) {
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "d_kernel_wait1": r'''
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "e_kernel_wait0": r'''
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<0>(); s += rd(R); issue(R, a, b, 0);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "f_kernel_wait1_sepgroups": r'''
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<2>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',
 "g_kernel_wait1_Rwait": r'''
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
''',

 "h_spin_1pending": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    while (out[t] > 0.f) {}
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "i_spin_2pending": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); while (out[t] > 0.f) {} wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "j_two_then_wait2": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); issue(L, a, b, 1); wgmma_wait_group<2>(); s += rd(R); issue(R, a, b, 0); issue(R, a, b, 1); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "k_branch_in_loop_2pending": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); if (out[kb] > 0.f) out[kb + 1] = 0.f; wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g2_views": r"""
  float A[128];
  for (int j = 0; j < 128; ++j) A[j] = 0;
  float (&LL)[64] = *reinterpret_cast<float (*)[64]>(A);
  float (&RR)[64] = *reinterpret_cast<float (*)[64]>(A + 64);
  issue(LL, a, b, 0); issue(RR, a, b, 0);
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(LL, a, b, 1); H::mma(RR, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(LL, a, b, 1); issue(RR, a, b, 1); wgmma_wait_group<1>(); s += rd(LL);
    issue(LL, a, b, 0); wgmma_wait_group<1>(); s += rd(RR); issue(RR, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(LL) + rd(RR);
""",
 "g3_continue_exit": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  for (;;) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>();
    if (++t < n) {
      s += rd(L);
      issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
      continue;
    }
    wgmma_wait_group<0>(); s += rd(L) + rd(R);
    break;
  }
""",
 "g4_t_regs": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  float T[64];
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); if (kb == 1) for (int j = 0; j < 64; ++j) s += T[j]; }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>();
    for (int j = 0; j < 64; ++j) { wgmma_fence_operand(R[j]); T[j] = R[j] * 2.f; }
    issue(R, a, b, 0); wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g5_t_regs_nowait": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  float T[64];
  for (int t = 0; t < n; ++t) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); if (kb == 1) for (int j = 0; j < 64; ++j) s += T[j]; }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>();
    for (int j = 0; j < 64; ++j) { wgmma_fence_operand(R[j]); T[j] = R[j] * 2.f; }
    issue(R, a, b, 0);
    for (int j = 0; j < 64; ++j) T[j] = T[j] * 3.f;
    wgmma_wait_group<1>();
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3a_readL_before_if": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  for (;;) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    if (++t < n) {
      issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
      continue;
    }
    wgmma_wait_group<0>(); s += rd(L) + rd(R);
    break;
  }
""",
 "g3b_noreadR": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  for (;;) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>();
    if (++t < n) {
      s += rd(L);
      issue(L, a, b, 0); wgmma_wait_group<0>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
      continue;
    }
    wgmma_wait_group<0>(); s += rd(L) + rd(R);
    break;
  }
""",
 "g3c_whileloop": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3d_G1": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3e_T": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  float T[64];
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); if (kb == 2) for (int j = 0; j < 64; ++j) s += T[j]; }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>();
    for (int j = 0; j < 64; ++j) { wgmma_fence_operand(R[j]); T[j] = R[j] * 2.f; }
    issue(R, a, b, 0);
    for (int j = 0; j < 64; ++j) T[j] = T[j] * 3.f;
    wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3f_G1_split": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3h_G1_L_only": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    issue(L, a, b, 1); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3i_G1_then_wait0": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); wgmma_wait_group<0>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3j_noinnerloop": r"""
  issue(L, a, b, 0); issue(R, a, b, 0);
  int t = 0;
  bool more = true;
  while (more) {
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3k_kernel_like_bothhead": r"""
  wgmma_fence(); H::mma(L, a, b, 0); H::mma(R, a, b, 0); wgmma_commit_group();
  wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>();
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
 "g3l_kernel_like_Rhead": r"""
  wgmma_fence(); H::mma(L, a, b, 0); H::mma(R, a, b, 0); wgmma_commit_group();
  issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>();
  int t = 0;
  bool more = true;
  while (more) {
    for (int kb = 0; kb < n; ++kb) { wgmma_fence(); H::mma(L, a, b, 1); H::mma(R, a, b, 1); wgmma_commit_group(); wgmma_wait_group<1>(); }
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>(); s += rd(L);
    issue(L, a, b, 0); wgmma_wait_group<1>(); s += rd(R); issue(R, a, b, 0);
    issue(L, a, b, 1); issue(R, a, b, 1); wgmma_wait_group<1>();
    more = ++t < n;
  }
  wgmma_wait_group<0>(); s += rd(L) + rd(R);
""",
}
names = sys.argv[1:] or list(bodies)
for nme in names:
    src = HEAD + bodies[nme] + TAIL
    r = _loader.compile_offline(src, ["k"])
    print(nme, [l[l.index("("):][:150] for l in r.log.splitlines() if "C75" in l] or "clean")
