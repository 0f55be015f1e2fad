"""Mamba-1 selective scan for training: Triton forward and backward kernels, a plain PyTorch
reference, and a check that compares them (values and gradients).

    s_t = exp(delta_t[:, None] * A) * s_{t-1} + (delta_t * u_t)[:, None] * B_t[None, :]
    y_t = s_t @ C_t                       (per batch row; s starts at zero)

Shapes: u, delta [Bt, T, D]; A [D, N]; B, C [Bt, T, N]; y [Bt, T, D]. Everything is computed
in fp32. The D skip term and the z gate stay outside (plain PyTorch), as in HF's mixer.

Why our own kernel: HF's JambaMambaMixer without the mamba_ssm package (not installable on
the training machine) scans with a Python loop over time, far too slow to train in minutes.
The forward saves every state (Bt*T*D*N fp32, a few hundred MB per layer at the demo's size)
so the backward walks time in reverse without recomputation.
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _scan_fwd(u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, y_ptr, s_ptr, T, D,
              N: tl.constexpr, BD: tl.constexpr):
    pb = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BD + tl.arange(0, BD)
    dm = d < D
    n = tl.arange(0, N)
    A = tl.load(a_ptr + d[:, None] * N + n[None, :], mask=dm[:, None], other=0.0)
    s = tl.zeros((BD, N), dtype=tl.float32)
    for t in range(T):
        row = pb * T + t
        u = tl.load(u_ptr + row * D + d, mask=dm, other=0.0)
        dt = tl.load(dt_ptr + row * D + d, mask=dm, other=0.0)
        bt = tl.load(b_ptr + row * N + n)
        ct = tl.load(c_ptr + row * N + n)
        s = tl.exp(dt[:, None] * A) * s + (dt * u)[:, None] * bt[None, :]
        tl.store(y_ptr + row * D + d, tl.sum(s * ct[None, :], axis=1), mask=dm)
        tl.store(s_ptr + (row * D + d[:, None]) * N + n[None, :], s, mask=dm[:, None])


@triton.jit
def _scan_bwd(u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, s_ptr, dy_ptr,
              du_ptr, ddt_ptr, da_ptr, dbp_ptr, dcp_ptr, T, D, NBLK,
              N: tl.constexpr, BD: tl.constexpr):
    pb = tl.program_id(0).to(tl.int64)
    blk = tl.program_id(1)
    d = blk * BD + tl.arange(0, BD)
    dm = d < D
    n = tl.arange(0, N)
    A = tl.load(a_ptr + d[:, None] * N + n[None, :], mask=dm[:, None], other=0.0)
    ds = tl.zeros((BD, N), dtype=tl.float32)   # dLoss/ds_t, carried backwards in time
    da = tl.zeros((BD, N), dtype=tl.float32)
    for i in range(T):
        t = T - 1 - i
        row = pb * T + t
        u = tl.load(u_ptr + row * D + d, mask=dm, other=0.0)
        dt = tl.load(dt_ptr + row * D + d, mask=dm, other=0.0)
        bt = tl.load(b_ptr + row * N + n)
        ct = tl.load(c_ptr + row * N + n)
        dy = tl.load(dy_ptr + row * D + d, mask=dm, other=0.0)
        s_t = tl.load(s_ptr + (row * D + d[:, None]) * N + n[None, :], mask=dm[:, None], other=0.0)
        prev = tl.maximum(row - 1, 0)
        s_prev = tl.load(s_ptr + (prev * D + d[:, None]) * N + n[None, :],
                         mask=dm[:, None] & (t > 0), other=0.0)
        ds += dy[:, None] * ct[None, :]
        decay = tl.exp(dt[:, None] * A)
        tl.store(dcp_ptr + (row * NBLK + blk) * N + n, tl.sum(s_t * dy[:, None], axis=0))
        tl.store(dbp_ptr + (row * NBLK + blk) * N + n, tl.sum(ds * (dt * u)[:, None], axis=0))
        dsb = tl.sum(ds * bt[None, :], axis=1)   # sum_n ds * B
        g = ds * decay * s_prev                   # d/d(dt*A) of the decay term
        tl.store(du_ptr + row * D + d, dsb * dt, mask=dm)
        tl.store(ddt_ptr + row * D + d, tl.sum(g * A, axis=1) + dsb * u, mask=dm)
        da += g * dt[:, None]
        ds = ds * decay
    tl.atomic_add(da_ptr + d[:, None] * N + n[None, :], da, mask=dm[:, None])


BLOCK_D = 32


class SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        dtypes = (u.dtype, delta.dtype, A.dtype, B.dtype, C.dtype)
        u, delta, A, B, C = (x.float().contiguous() for x in (u, delta, A, B, C))
        Bt, T, D = u.shape
        N = A.shape[1]
        y = torch.empty_like(u)
        states = torch.empty((Bt, T, D, N), device=u.device, dtype=torch.float32)
        grid = (Bt, triton.cdiv(D, BLOCK_D))
        _scan_fwd[grid](u, delta, A, B, C, y, states, T, D, N=N, BD=BLOCK_D, num_warps=4)
        ctx.save_for_backward(u, delta, A, B, C, states)
        ctx.dtypes = dtypes
        return y

    @staticmethod
    def backward(ctx, dy):
        u, delta, A, B, C, states = ctx.saved_tensors
        Bt, T, D = u.shape
        N = A.shape[1]
        nblk = triton.cdiv(D, BLOCK_D)
        dy = dy.float().contiguous()
        du = torch.empty_like(u)
        ddelta = torch.empty_like(u)
        dA = torch.zeros_like(A)
        dBp = torch.empty((Bt, T, nblk, N), device=u.device, dtype=torch.float32)
        dCp = torch.empty_like(dBp)
        _scan_bwd[(Bt, nblk)](u, delta, A, B, C, states, dy, du, ddelta, dA, dBp, dCp, T, D, nblk,
                              N=N, BD=BLOCK_D, num_warps=4)
        grads = (du, ddelta, dA, dBp.sum(2), dCp.sum(2))
        return tuple(g.to(dt) for g, dt in zip(grads, ctx.dtypes))


def selective_scan(u, delta, A, B, C):
    return SelectiveScan.apply(u, delta, A, B, C)


def selective_scan_reference(u, delta, A, B, C):
    """The recurrence written out, for checking (any dtype, autograd through the loop)."""
    Bt, T, D = u.shape
    s = torch.zeros((Bt, D, A.shape[1]), device=u.device, dtype=u.dtype)
    ys = []
    for t in range(T):
        s = torch.exp(delta[:, t, :, None] * A) * s + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]
        ys.append((s * C[:, t, None, :]).sum(-1))
    return torch.stack(ys, dim=1)


def check(device="cuda"):
    """Forward and all five gradients against the float64 reference on odd sizes; returns the
    worst relative error (max |diff| / max |ref| per tensor)."""
    worst = 0.0
    report = []
    for (Bt, T, D, N) in ((1, 1, 1, 16), (2, 37, 45, 16), (3, 130, 100, 16), (2, 64, 64, 8)):
        g = torch.Generator(device="cpu").manual_seed(Bt * 1000 + T + D)
        u = torch.randn(Bt, T, D, generator=g, dtype=torch.float64)
        delta = torch.nn.functional.softplus(torch.randn(Bt, T, D, generator=g, dtype=torch.float64) - 1)
        A = -torch.exp(torch.randn(D, N, generator=g, dtype=torch.float64))
        B = torch.randn(Bt, T, N, generator=g, dtype=torch.float64)
        C = torch.randn(Bt, T, N, generator=g, dtype=torch.float64)
        dy = torch.randn(Bt, T, D, generator=g, dtype=torch.float64)
        ins64 = [x.to(device).requires_grad_() for x in (u, delta, A, B, C)]
        y64 = selective_scan_reference(*ins64)
        y64.backward(dy.to(device))
        ins32 = [x.to(device).float().requires_grad_() for x in (u, delta, A, B, C)]
        y32 = selective_scan(*ins32)
        y32.backward(dy.to(device).float())
        errs = {}
        for name, a, b in [("y", y32, y64)] + [("d" + nm, x32.grad, x64.grad) for nm, x32, x64 in
                                                 zip(("u", "delta", "A", "B", "C"), ins32, ins64)]:
            if not torch.isfinite(a).all():
                errs[name] = float("inf")
                continue
            errs[name] = ((a.double() - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
        worst = max(worst, max(errs.values()))
        report.append({"shape": [Bt, T, D, N], "rel_err": errs})
    return worst, report
