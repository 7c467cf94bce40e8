"""Adam for Roy et al.'s online rule (:func:`spikelib.lif.roy.roy_online`): the authors' AdamW update applied
per time step, with buffers that live as long as the fit and, for the audiocoder's 58500 x 2048 input
weights, a tiled update whose gradient ``delta^T P`` is formed tile by tile just before the fused AdamW
kernel uses it, so the full 480 MB gradient is never written (see benchmarks/roy_audiocoder.py). A weight
stored input-major (``p.T`` contiguous, :class:`spikelib.lif.roy.TwoLayerLIF` ``input_major=True``, the
audiocoder's encoder) is updated in place, tile by tile, with no copy of it.
"""

from __future__ import annotations

import torch

from spikelib.lif import _roy_kernel

#: Adam's epsilon and betas in Roy et al.'s code (Keras' epsilon).
ADAM_EPS = 1e-7
ADAM_BETAS = (0.9, 0.999)


class _AdamSlot:
    """Adam's state of one parameter for :class:`RoyAdam`: the two moments, the step count (float32, as
    ``torch.optim.AdamW(fused=True)`` keeps it) and the buffers of the tiled update.

    A matrix of at least :attr:`RoyAdam.TILE_MIN_NUMEL` elements is updated in column tiles of
    ``tile_columns``. The fused kernel is elementwise, so a tile gets exactly the arithmetic the whole
    matrix would; what the tiles buy is that a tile's gradient, formed just before
    (:meth:`RoyAdam.step_outer`), is still in cache. The kernel needs each tile contiguous, and weight,
    gradient and moments in the same layout (given a gradient whose strides differ from the weight's it
    silently pairs the wrong elements, as does ``torch.optim.AdamW(fused=True)``):

    - input-major weights (``p.T`` contiguous, ``inplace``): a column tile ``p[:, c0:c1]`` is the
      contiguous block of rows ``c0:c1`` of ``p.T``; the moments are stored the same way, the gradient tile
      is formed as ``pre[:, c0:c1]^T delta`` (tile of ``g^T``) and the kernel updates the weight in place.
    - row-major weights: the moments and a copy of the weights are stored tile by tile (each tile
      contiguous); each update runs the kernel on the tile and copies the tile into the weight matrix,
      which the forward pass reads (at the audiocoder's size: 1 GB of traffic per step that the
      input-major layout saves). The copy is refreshed from the weights whenever anything else has
      changed them (their version counter moved since the last update).
    """

    def __init__(self, p: torch.Tensor, tile_columns: int, tile_min_numel: int):
        self.p = p
        self.step = torch.zeros((), dtype=torch.float32, device=p.device)
        tiled = p.ndim == 2 and p.numel() >= tile_min_numel and p.shape[1] > tile_columns
        self.inplace = False
        if tiled:
            n = p.shape[1]
            self.tiles = [(c, min(c + tile_columns, n)) for c in range(0, n, tile_columns)]
            self.inplace = p.T.is_contiguous()
            if self.inplace:  # the moments input-major too, (n, rows): tile i is rows c0:c1
                self.m_t, self.v_t = p.new_zeros(n, p.shape[0]), p.new_zeros(n, p.shape[0])
                self.m = [self.m_t[c0:c1] for c0, c1 in self.tiles]
                self.v = [self.v_t[c0:c1] for c0, c1 in self.tiles]
            else:
                self.m = [p.new_zeros(p.shape[0], c1 - c0) for c0, c1 in self.tiles]
                self.v = [p.new_zeros(p.shape[0], c1 - c0) for c0, c1 in self.tiles]
                # flat: a narrower last tile is a contiguous view of the front (the kernel needs contiguous)
                self.w = [p.new_empty(p.shape[0], c1 - c0) for c0, c1 in self.tiles]
            self.synced: int | None = None  # p._version when self.w was last equal to p
            self.g_buf = p.new_empty(p.shape[0] * tile_columns)
            self.tile_columns = tile_columns
        else:
            self.tiles = None
            self.m, self.v = [torch.zeros_like(p)], [torch.zeros_like(p)]
            self.g_full: torch.Tensor | None = None
        self.pre_buf: torch.Tensor | None = None
        self.g_like: torch.Tensor | None = None  # a gradient copied into p's layout (untiled, strides differ)

    def weight_tile(self, i: int) -> torch.Tensor:
        """The contiguous tile the kernel updates: rows ``c0:c1`` of ``p.T`` itself (in place), or the copy."""
        if self.inplace:
            c0, c1 = self.tiles[i]
            return self.p.T[c0:c1]
        return self.w[i]

    def grad_tile(self, i: int, g: torch.Tensor) -> torch.Tensor:
        """Columns ``c0:c1`` of the full gradient ``g`` (like ``p``), copied into the tile buffer in the
        tile's layout."""
        c0, c1 = self.tiles[i]
        if self.inplace:
            return self.tile_of(self.g_buf, c1 - c0, g.shape[0]).copy_(g[:, c0:c1].T)
        return self.tile_of(self.g_buf, g.shape[0], c1 - c0).copy_(g[:, c0:c1])

    def like_p(self, g: torch.Tensor) -> torch.Tensor:
        """``g`` in ``p``'s memory layout (the fused kernel reads both as flat arrays)."""
        if g.stride() == self.p.stride():
            return g
        if self.g_like is None:
            self.g_like = torch.empty_like(self.p)
        return self.g_like.copy_(g)

    @staticmethod
    def tile_of(buf: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """A contiguous (rows, cols) view of the flat buffer ``buf``."""
        return buf[:rows * cols].view(rows, cols)

    def sync(self) -> None:
        """Refresh the tiles' copy of the weights if something else changed them since the last update."""
        if not self.inplace and self.synced != self.p._version:
            for (c0, c1), w in zip(self.tiles, self.w):
                w.copy_(self.p[:, c0:c1])

    def reset(self) -> None:
        for buf in ((self.m_t, self.v_t) if self.inplace else (*self.m, *self.v)):
            buf.zero_()
        self.step.zero_()


class RoyAdam:
    """Adam over the time steps of one batch (Roy et al. §2.3, §3.1): the moments restart with every batch.

    ``W <- W (1 - lr weight_decay)`` (decoupled decay, see the module docstring); ``m = b1 m + (1 - b1) g``,
    ``v = b2 v + (1 - b2) g^2``; ``W -= lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)`` with k the
    step index in the batch (1, 2, ...). Call :meth:`reset` between batches (or create one per batch):
    the moments are never carried to the next batch. Call as ``step(t, g1, g2)`` (the :func:`roy_online`
    hook) or ``step.step_outer(t, (delta1, P1), (delta2, P2))`` with ``g = delta^T P``.

    This is ``torch.optim.AdamW(fused=True)``'s update, bit for bit: the same kernel
    (``torch._fused_adamw_``, one pass over weight, gradient and moments) called with the same float32
    step count, on buffers that live as long as the optimiser. At the audiocoder's 2048 x 58,500 encoder
    the optimiser used to allocate two fresh 480 MB moments per batch and was handed a fresh 480 MB
    gradient per step; now :meth:`reset` zeroes the moments in place, and :meth:`step_outer` forms the
    gradient in column tiles (:class:`_AdamSlot`) that the update consumes while they are in cache: the
    gradient is never written to memory. A device or dtype without the fused kernel falls back to
    ``torch.optim.AdamW`` (the same update, about twelve passes).
    """

    #: matrices with at least this many elements are updated in column tiles (smaller: one piece)
    TILE_MIN_NUMEL = 1 << 22
    #: the width of a tile: 2048 x 512 float32 is 4 MB per buffer (gradient and weight tiles stay in the
    #: 32 MB L3; 512 timed best of 512 / 1024 / 2048 at the audiocoder's size). MKL's sgemm hit slow paths
    #: on narrow strided column slices of the trace (<= 256 columns), so the trace is copied per tile too
    TILE_COLUMNS = 512

    def __init__(self, params, *, lr: float, betas=ADAM_BETAS, eps: float = ADAM_EPS, weight_decay: float = 0.0,
                 tile_columns: int | None = None, tile_min_numel: int | None = None, backend: str = "auto"):
        if backend not in ("auto", "torch"):
            raise ValueError(f"backend must be 'auto' (the C update where it is built) or 'torch', got {backend!r}")
        self.backend = backend
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), tuple(betas), float(eps), float(weight_decay)
        kw = dict(lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay)
        self.fused = all(_fused_supported(p) for p in self.params)
        if self.fused:
            cols = int(tile_columns or self.TILE_COLUMNS)
            min_numel = self.TILE_MIN_NUMEL if tile_min_numel is None else int(tile_min_numel)
            self.slots = [_AdamSlot(p, cols, min_numel) for p in self.params]
            self.opt = None
        else:  # a device or dtype without the fused kernel
            self.slots = []
            self.opt = torch.optim.AdamW(self.params, **kw)

    def reset(self) -> None:
        """Restart the moments and the step count (a new batch), in place."""
        if self.opt is not None:
            self.opt.state.clear()
        for s in self.slots:
            s.reset()

    def c_update(self, slot: _AdamSlot, *factors: torch.Tensor) -> bool:
        """Whether :meth:`step_outer` updates ``slot`` in C (spikelib/lif/_roy.c): a tiled input-major weight,
        ``backend="auto"`` and the kernel usable with these factors (``pre``, ``delta``)."""
        return slot.inplace and self.backend == "auto" and _roy_kernel.usable(slot.p.T, *factors)

    def _fused(self, w, g, m, v, step) -> None:
        # the C path of step_outer computes the same update:
        # MIRROR(roy-adamw): keep in lockstep with spikelib/lif/_roy.c:roy_outer_adamw; tested by tests/test_lif_roy.py::test_c_outer_adamw_matches_the_torch_tiles
        torch._fused_adamw_([w], [g], [m], [v], [], [step], lr=self.lr, beta1=self.betas[0],
                            beta2=self.betas[1], weight_decay=self.weight_decay, eps=self.eps,
                            amsgrad=False, maximize=False)

    def _tile_update(self, s: _AdamSlot, i: int, g_tile: torch.Tensor) -> None:
        self._fused(s.weight_tile(i), g_tile, s.m[i], s.v[i], s.step)
        if not s.inplace:
            c0, c1 = s.tiles[i]
            s.p[:, c0:c1].copy_(s.w[i])

    @torch.no_grad()
    def __call__(self, t: int, *grads: torch.Tensor) -> None:
        if self.opt is not None:
            for p, g in zip(self.params, grads):
                p.grad = g
            self.opt.step()
            for p in self.params:
                p.grad = None
            return
        for s, g in zip(self.slots, grads):
            s.step.add_(1)  # as torch.optim: the step count first, then the kernel
            if s.tiles is None:
                self._fused(s.p, s.like_p(g), s.m[0], s.v[0], s.step)
                continue
            s.sync()
            for i in range(len(s.tiles)):
                self._tile_update(s, i, s.grad_tile(i, g))
            s.synced = s.p._version

    @torch.no_grad()
    def step_outer(self, t: int, *factors: tuple[torch.Tensor, torch.Tensor]) -> None:
        """The update with the gradients given as factors ``(delta (B, n_out), pre (B, n_in))``,
        ``g = delta^T pre`` (:func:`roy_online` with ``trace="input"``)."""
        if self.opt is not None:
            return self(t, *(delta.T @ pre for delta, pre in factors))
        for s, (delta, pre) in zip(self.slots, factors):
            s.step.add_(1)
            if s.tiles is None:
                if s.g_full is None:
                    s.g_full = torch.empty_like(s.p)  # p's layout (torch.mm fills out= in its strides)
                g = torch.mm(delta.T, pre, out=s.g_full)
                self._fused(s.p, s.like_p(g), s.m[0], s.v[0], s.step)
                continue
            if self.c_update(s, pre, delta):
                # gradient and update in one C pass (spikelib/lif/_roy.c): the same update up to rounding
                _roy_kernel.outer_adamw(s.p.T, s.m_t, s.v_t, pre, delta, lr=self.lr, betas=self.betas,
                                        eps=self.eps, weight_decay=self.weight_decay, step=float(s.step))
                continue
            B = pre.shape[0]
            if s.pre_buf is None or s.pre_buf.numel() != B * s.tile_columns:
                s.pre_buf = pre.new_empty(B * s.tile_columns)
            s.sync()
            for i, (c0, c1) in enumerate(s.tiles):
                if s.inplace:
                    # the tile of g^T = pre^T delta, (c1 - c0, rows), the layout of rows c0:c1 of p.T;
                    # MKL takes the strided slice of pre as it is (timed as fast as the copied one)
                    gt = s.tile_of(s.g_buf, c1 - c0, delta.shape[1])
                    self._tile_update(s, i, torch.mm(pre[:, c0:c1].T, delta, out=gt))
                    continue
                pt = s.tile_of(s.pre_buf, B, c1 - c0).copy_(pre[:, c0:c1])
                gt = s.tile_of(s.g_buf, delta.shape[1], c1 - c0)
                # the tile of delta^T pre: each element is the same B-term dot product as in the whole
                # product, and the update reads it from cache
                self._tile_update(s, i, torch.mm(delta.T, pt, out=gt))
            s.synced = s.p._version


def _fused_supported(p: torch.Tensor) -> bool:
    """Whether ``torch._fused_adamw_`` runs on ``p``'s device and dtype (as ``torch.optim`` checks)."""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices
    return (p.device.type in _get_fused_kernels_supported_devices()
            and p.dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16))
