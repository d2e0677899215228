"""FusedCell: the opt-in speed paths of the cell contract.

A plain Cell (cell.py) is all a plugin needs. A cell that subclasses FusedCell instead makes
the promises below, and ablab then takes the faster paths; `check-plugin` tests each promise
against the plain path.

1. Hoisted gradients. `hoisted(H)` names recurrent matrices M applied as h_{t-1} M to produce
   the columns `cols` of the pre-activation. backward_step does NOT add their gradients:
   ablab computes dM = sum_t h_{t-1}^T da_t[..., cols] after the time loop as one large
   matmul over all steps, several times faster than T small ones.
2. Transposes. In backward_step, `p` also holds "NAME.T" for every recurrent matrix: the
   matrix transposed into contiguous memory, which BLAS multiplies faster than a view.
3. da_t in place. backward_step(p, dstate, cache, grads, out) receives `out`, the
   (S, B, n_blocks*H) slice (block-major: (S, n_blocks, B, H)) of ablab's buffer for da_t;
   it writes da_t there and returns `out`, which saves one copy per step.
4. Block-major layout (opt-in, `block_major = True`). Every per-step array with
   n_blocks*H columns, a_t given to step(), z_t given to step_z() and `out` given to
   backward_step(), is (S, n_blocks, B, H) instead of (S, B, n_blocks*H): block k is
   [..., k*H:(k+1)*H] of the flat layout, now a contiguous (S, B, H) array, which numpy's
   ufuncs read without first copying a strided view into a buffer. Parameters keep their
   shapes ((S, H, n_blocks*H) matrices). A cache keeps the batch on axis 1: it holds a block
   array as `x.swapaxes(1, 2)`, (S, B, n_blocks, H), and the cell swaps it back.
5. Fused step (only with `fused_matrix = "U"`, for cells whose pre-activation is
   z_t = a_t + h_{t-1} U over all columns). The cell implements

       step_z(p, z_t, state, recompute) -> (state_t, cache)

   the step given z_t, and inherits step(). ablab computes z_t = [x_t, 1, h_{t-1}] [W; b; U]
   in one matmul per step, which spares the separate input projection and the addition of
   a_t. `recompute()` returns z_t again bit for bit, for a cache that leaves z_t out.
   A subclass that changes step() must change step_z() too, or set fused_matrix = None.

6. Whole-chunk backward (optional; needs 5). new_tape(S, T, B, H, dtype) returns an object
   (or None: the per-step path) that the model hands to every step_z of the layer's forward
   as step_z(p, z_t, state, recompute, tape, t); step_z records step t in it. The backward
   then calls backward_steps(p, dstate, tape, start, end, dhs, window, da) once per chunk of
   steps instead of backward_step per step: it runs steps end-1 down to start, adds
   dhs[:, t] (or nothing, dhs None) to dh before step t, zeroes the state after step t when
   window and t % window == 0, writes da_t into da[:, :, t - start] (the chunk buffer,
   block-major, (S, n_blocks, chunk, B, H)) and returns dstate_{start-1}. Without a tape, and
   whenever the caller traces dh, backward_step runs as before, on the same caches.

7. Whole-layer training forward (optional; needs 6). forward_steps(p, XH, WbU, tape) runs
   every step of the layer from a zero state in one call: XH (S, T+1, B, D+1+H) holds
   [x_t, 1] in slot t, WbU is the per-step product's right factor [W; b; U], (S, D+1+H,
   nb*H) whatever block_major says (one product per step, not one per block); it writes h_t
   into XH[:, t+1, :, D+1:] and step t
   into the tape as step_z would, and returns the last state; None: not offered. ablab
   calls it only for training (train.loss_and_grads), whose backward reads the tape alone:
   it keeps no per-step caches, so probes and evaluation run step_z as before. Its results
   may differ from step_z's in the last bits (its own tanh, say): the contract check
   compares the two in float64.

8. Input-side sums in the chunk (optional; needs 6 and block_major; `chunk_input_grads =
   True`). backward_steps then also takes rows= (S, T, B, R), row t = [x_t, 1, h_{t-1}], and
   sums= (S, n_blocks, R, H), and adds rows[:, t]^T da_t[:, k] into sums[:, k] for each of
   its steps; ablab adds the sums into dW, db and the hoisted dU after the layer instead of
   one product per chunk. Done step by step, the product finds its operands in cache.

Activations whose derivative reads only the output (`deriv_from_output`) offer
`output_deriv(y)`: a cell may then leave the pre-activation out of its cache.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ablab.core.engine.cell import Cell


class FusedCell(Cell):
    """A Cell that opts into ablab's speed paths (see the module docstring)."""

    fused: ClassVar[bool] = True
    # The recurrent matrix U of z_t = a_t + h_{t-1} U (all columns), or None: no step_z.
    fused_matrix: ClassVar[str | None] = None
    # a_t, z_t and da_t as (S, n_blocks, B, H) instead of (S, B, n_blocks*H) (see the docstring).
    block_major: ClassVar[bool] = False
    # backward_steps also sums the input-side gradients (promise 8).
    chunk_input_grads: ClassVar[bool] = False

    def hoisted(self, hidden: int) -> dict[str, slice]:
        """Recurrent matrices whose gradient ablab sums after the loop -> the columns they
        feed. With fused_matrix set it is that matrix, over all columns."""
        return {} if self.fused_matrix is None else {self.fused_matrix: slice(None)}

    def step(self, p: dict, a: np.ndarray, state: tuple) -> tuple[tuple, Any]:
        """z_t = a_t + h_{t-1} U, then step_z. Cells without fused_matrix override step()."""
        if self.fused_matrix is None:
            raise NotImplementedError
        h_prev, U = state[0], p[self.fused_matrix]
        if self.block_major:  # h_{t-1} U_k for every block k at once: (S, 1, B, H) x (S, nb, H, H)
            h_prev, U = h_prev[:, None], blocks_of(U, h_prev.shape[-1])

        def recompute():
            z = np.matmul(h_prev, U)
            z += a
            return z

        return self.step_z(p, recompute(), state, recompute)

    def step_z(self, p: dict, z: np.ndarray, state: tuple, recompute) -> tuple[tuple, Any]:
        raise NotImplementedError

    def new_tape(self, S: int, T: int, B: int, H: int, dtype) -> Any:
        """Storage for a whole layer's forward, for backward_steps (promise 6); None: no tape."""
        return None

    def forward_steps(self, p: dict, XH: np.ndarray, WbU: np.ndarray, tape: Any) -> tuple | None:
        """A whole layer's training forward in one call (promise 7); None: step by step."""
        return None

    def backward_steps(self, p, dstate, tape, start, end, dhs, window, da) -> tuple:
        """One chunk of steps of the backward at once (promise 6); only called with a tape."""
        raise NotImplementedError

    def backward_step(self, p: dict, dstate: tuple, cache: Any, grads: dict, out: np.ndarray) -> tuple:
        """Write da_t into `out` and return (out, dstate_{t-1}); add the gradients of the
        recurrent parameters that are not hoisted into grads. p holds "NAME.T" too."""
        raise NotImplementedError

    def with_transposes(self, p: dict, hidden: int) -> dict:
        """The parameter dict backward_step receives: p plus a contiguous "NAME.T" per matrix."""
        out = dict(p)
        for name, rp in self.recurrent_params(hidden).items():
            if rp.kind == "matrix":
                out[name + ".T"] = np.ascontiguousarray(p[name].transpose(0, 2, 1))
        return out


def blocks_of(m: np.ndarray, hidden: int) -> np.ndarray:
    """(S, R, nb*H) -> the view (S, nb, R, H): column block k of m as matrix k (BLAS reads it
    in place, with the row stride nb*H)."""
    S, R, cols = m.shape
    return m.reshape(S, R, cols // hidden, hidden).transpose(0, 2, 1, 3)


def block_major(cell: Cell) -> bool:
    """Whether the cell's a_t, z_t and da_t are (S, n_blocks, B, H) (a plain Cell's never are)."""
    return cell.fused and cell.block_major


def step_shape(cell: Cell, S: int, B: int, hidden: int) -> tuple[int, ...]:
    """Shape of a_t, z_t and da_t for this cell: block-major or (S, B, n_blocks*H)."""
    if block_major(cell):
        return (S, cell.n_blocks, B, hidden)
    return (S, B, cell.n_blocks * hidden)


def hoisted_grad(cell: Cell, h_prev: np.ndarray, da: np.ndarray, cols: slice) -> np.ndarray:
    """One step's gradient of a hoisted matrix, h_{t-1}^T da_t[cols] as (S, H, |cols|), for
    either layout (ablab sums it over many steps in one matmul; the checks do it step by step)."""
    hT = h_prev.transpose(0, 2, 1)
    if not block_major(cell):
        return np.matmul(hT, da[..., cols])
    S, nb, _, H = da.shape
    first, last, _ = cols.indices(nb * H)
    g = np.matmul(hT[:, None], da[:, first // H : last // H])  # (S, k, H, H)
    return g.transpose(0, 2, 1, 3).reshape(S, H, -1)


# How ablab drives any cell, plain or fused: the model, gradcheck and probes call these so that
# the choice between the two paths is written once.


def backward_params(cell: Cell, p: dict, hidden: int) -> dict:
    """What backward_step receives as `p`."""
    return cell.with_transposes(p, hidden) if cell.fused else p


def hoisted(cell: Cell, hidden: int) -> dict[str, slice]:
    """Matrices whose gradient the caller sums after the loop (none for a plain cell)."""
    return cell.hoisted(hidden) if cell.fused else {}


def backward_into(cell: Cell, p_back: dict, dstate: tuple, cache: Any, grads: dict, out: np.ndarray) -> tuple:
    """Run backward_step with da_t landing in `out`; returns dstate_{t-1}."""
    if cell.fused:
        _, dstate_prev = cell.backward_step(p_back, dstate, cache, grads, out)
    else:
        out[...], dstate_prev = cell.backward_step(p_back, dstate, cache, grads)
    return dstate_prev
