"""Measure device copy bandwidth several ways (bytes read + written), to calibrate memory-bound targets."""
import torch
import triton.testing as tt

n = 2**30
a = torch.empty(n, dtype=torch.uint8, device="cuda").random_()
b = torch.empty_like(a)
def gbs(ms, nbytes=2 * n):
    return nbytes / (ms * 1e-3) / 1e9
print("device", torch.cuda.get_device_name())
ms = tt.do_bench(lambda: b.copy_(a), warmup=50, rep=300, return_mode="median")
print(f"torch copy_ 1 GiB, do_bench median: {ms*1e3:.1f} us  {gbs(ms):.0f} GB/s")
g = torch.cuda.CUDAGraph()
s = torch.cuda.Stream()
with torch.cuda.stream(s):
    b.copy_(a)
torch.cuda.synchronize()
with torch.cuda.graph(g):
    for _ in range(10):
        b.copy_(a)
ms = tt.do_bench(g.replay, warmup=20, rep=300, return_mode="median") / 10
print(f"torch copy_ 1 GiB, graph of 10, median: {ms*1e3:.1f} us  {gbs(ms):.0f} GB/s")
for size in (2**28, 2**31):
    x = torch.empty(size, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
    ms = tt.do_bench(lambda: y.copy_(x), warmup=50, rep=300, return_mode="median")
    print(f"torch copy_ {size/2**30:.2f} GiB: {gbs(ms, 2*size):.0f} GB/s")
    del x, y
xf = a.view(torch.float32); yf = b.view(torch.float32)
ms = tt.do_bench(lambda: torch.add(xf, 0.0, out=yf), warmup=50, rep=300, return_mode="median")
print(f"torch elementwise add 1 GiB fp32: {gbs(ms):.0f} GB/s")
xb = torch.randn(16384, 8192, device="cuda", dtype=torch.bfloat16); yb = torch.empty_like(xb)
ms = tt.do_bench(lambda: torch.mul(xb, 2.0, out=yb), warmup=50, rep=300, return_mode="median")
print(f"torch bf16 mul 16384x8192: {gbs(ms, 4*xb.numel()):.0f} GB/s")
