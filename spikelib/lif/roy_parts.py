"""The per-step parts of Roy et al.'s online rule (:func:`spikelib.lif.roy.roy_online`, §2.3): the input
current ``x_t W1^T`` (dense, or summed over the active inputs) and the presynaptic trace that gives each
step's weight gradient.
"""

from __future__ import annotations

import torch


#: :func:`roy_online` sums the rows of W1^T of the active inputs instead of the dense product ``x W1^T``
#: when at most this fraction of the batch's inputs spike (and W1 is input-major, on the CPU). At the
#: audiocoder's size (58500-2048, batch 50, 1 % active) the sum took 15 ms against 280 for the product
#: (1 thread); it reads a row per spike, so it loses to the product at some 5-10 % of inputs active.
SPARSE_INPUT_MAX_DENSITY = 0.05


class InputCurrent:
    """``x_t W1^T`` for each step t of a batch of input spikes ``x`` (T, B, n_in).

    Sparse (``sparse=True``): from the nonzeros of the whole batch, found once, each step's product is
    :func:`torch.nn.functional.embedding_bag` (``mode="sum"``) over the rows of ``W1^T`` (n_in, n_hidden)
    of that step's active inputs, per example: about ``nnz x n_hidden`` additions, reading only the
    active rows, instead of the ``B n_in n_hidden`` multiply-adds of the dense product. Spikes are 0/1:
    the sum of the rows is exactly the product's terms (``1 w = w``, ``0 w`` adds nothing); other values
    are given as ``per_sample_weights``. Only the order of the additions differs from the dense product:
    in float32 a hidden potential may differ in its last bits (float64: at the 1e-16 level).
    ``W1^T`` must be contiguous for the rows to be cheap (``TwoLayerLIF(input_major=True)``); otherwise
    it is copied at every step (correct, slow).
    """

    def __init__(self, x_all: torch.Tensor, w1: torch.Tensor, sparse: bool | None):
        self.x_all, self.w1 = x_all, w1
        T, B, n_in = x_all.shape
        if sparse is None:
            sparse = (w1.T.is_contiguous() and w1.device.type == "cpu" and x_all.numel() > 0
                      and int(torch.count_nonzero(x_all)) <= SPARSE_INPUT_MAX_DENSITY * x_all.numel())
        self.sparse, self.B = bool(sparse), B
        if self.sparse:
            flat = x_all.reshape(T * B, n_in)
            rows, self.cols = flat.nonzero(as_tuple=True)
            vals = flat[rows, self.cols]
            self.weights = None if bool((vals == 1).all()) else vals
            # offsets[i]: where example-step i's nonzeros start in cols (rows come out sorted)
            self.offsets = torch.searchsorted(rows, torch.arange(T * B + 1, device=rows.device)).tolist()
            self.offsets_t = torch.tensor(self.offsets, dtype=torch.long, device=rows.device)

    def __call__(self, t: int) -> torch.Tensor:
        if not self.sparse:
            return self.x_all[t] @ self.w1.T
        a, b = t * self.B, (t + 1) * self.B
        start, stop = self.offsets[a], self.offsets[b]
        wt = self.w1.T
        if not wt.is_contiguous():
            wt = wt.contiguous()
        return torch.nn.functional.embedding_bag(
            self.cols[start:stop], wt, self.offsets_t[a:b] - start, mode="sum",
            per_sample_weights=None if self.weights is None else self.weights[start:stop])


class Trace:
    """``sum_b delta_bm dV_bm/dW_mk`` for one layer, from the decaying input trace
    ``P_t = lam P_{t-1} + pre_t``. With ``reset``, neuron m's trace restarts after it fires at step r:
    ``dV_m/dW_mk (t) = P_k(t) - lam^(t - r) P_k(r)``; the second term needs ``P`` at each neuron's last
    firing step, hence the history (T, B, n_pre).

    Without ``reset`` ``P`` is updated in place (``P *= lam; P += pre``: the same two roundings as
    ``lam P + pre``) and the gradient goes into one buffer reused at every step: at the audiocoder's size
    (2048 x 58,500) a fresh gradient is a 480 MB allocation whose page faults cost as much as the matrix
    product that fills it."""

    def __init__(self, batch: int, n_pre: int, n_post: int, lam: float, reset: bool, like: torch.Tensor):
        self.lam, self.reset = lam, reset
        self.p = like.new_zeros(batch, n_pre)
        self.history: list[torch.Tensor] = []
        self.last = torch.full((batch, n_post), -1, dtype=torch.long, device=like.device)
        self._g: torch.Tensor | None = None  # the gradient buffer, (n_post, n_pre), made at the first grad

    def push(self, pre: torch.Tensor) -> None:
        if self.reset:  # the history keeps every step's P: a new tensor each step
            self.p = self.lam * self.p + pre
        else:
            self.p.mul_(self.lam).add_(pre)

    def grad(self, delta: torch.Tensor, t: int) -> torch.Tensor:
        """The gradient of step t, in a buffer that the next call overwrites."""
        if self._g is None:
            self._g = delta.new_empty(delta.shape[1], self.p.shape[1])
        g = torch.mm(delta.T, self.p, out=self._g)
        if self.reset:
            fired = self.last >= 0
            if bool(fired.any()):
                steps = torch.unique(self.last[fired])
                # decay lam^(t - r) of each neuron's reset point, zero where it has not fired
                decay = torch.where(fired, self.lam ** (t - self.last).to(delta.dtype), torch.zeros_like(delta))
                sel = (self.last.unsqueeze(0) == steps.view(-1, 1, 1)).to(delta.dtype)  # (R, B, n_post)
                d = (sel * (delta * decay).unsqueeze(0)).flatten(0, 1)  # (R B, n_post)
                hist = torch.stack([self.history[int(r)] for r in steps]).flatten(0, 1)  # (R B, n_pre)
                g.sub_(d.T @ hist)
        return g

    def after_step(self, post_spikes: torch.Tensor, t: int) -> None:
        if self.reset:
            self.history.append(self.p)
            self.last = torch.where(post_spikes != 0, torch.full_like(self.last, t), self.last)
