"""scikit-learn's MLP solvers on a flat parameter vector.

``SGD`` and ``Adam`` reproduce ``sklearn.neural_network._stochastic_optimizers``
update for update (the same expressions, evaluated over the whole flat vector
instead of per layer, in one fused kernel pass that also adds the L2 term to
the gradient), including the learning-rate schedules and the 'adaptive'
division by 5. ``lbfgs`` runs SciPy's L-BFGS-B as scikit-learn does.
"""

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from fastnn.kernels.cpu import sklearn_mlp as fused


class SGD:
    """Momentum SGD: ``v = momentum * v - lr * g``; the step is ``v``, or
    ``momentum * v - lr * g`` with Nesterov momentum."""

    def __init__(self, size, dtype, lr, schedule, momentum, nesterov, power_t):
        self.learning_rate_init = float(lr)
        self.learning_rate = float(lr)
        self.schedule = schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros(size, dtype)

    def step(self, params, grad, n_coef, l2):
        """Add ``l2 * w`` to the gradient of the first ``n_coef`` parameters,
        update ``params``; returns the sum of the weights' squares before."""
        # Python floats meet NumPy arrays as the arrays' dtype (NEP 50)
        cast = params.dtype.type
        scalars = (cast(self.learning_rate), cast(self.momentum)) + (cast(0),) * 4
        op = fused.NESTEROV if self.nesterov else fused.SGD
        v = self.velocity
        return fused.fused_step(params, grad, v, v, n_coef, cast(l2), op, scalars)

    def epoch_scalars(self, steps):
        """What ``kernels.cpu.sklearn_mlp.stochastic_epoch`` needs for
        ``steps`` calls of ``step``: (op, per-step learning rates, the other
        five scalars, state1, state2), cast as ``step`` casts them."""
        dtype = self.velocity.dtype
        cast = dtype.type
        lrs = np.full(steps, cast(self.learning_rate), dtype)
        op = fused.NESTEROV if self.nesterov else fused.SGD
        constants = (cast(self.momentum),) + (cast(0),) * 4
        return op, lrs, constants, self.velocity, self.velocity

    def advance(self, steps):
        """After ``steps`` steps run elsewhere: nothing to count (the rate
        changes only between epochs)."""

    def iteration_ends(self, samples_seen):
        if self.schedule == "invscaling":
            self.learning_rate = (
                self.learning_rate_init / (samples_seen + 1) ** self.power_t
            )

    def trigger_stopping(self, msg, verbose):
        """True to stop; 'adaptive' divides the rate by 5 until it is <= 1e-6."""
        if self.schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class Adam:
    """Adam with the bias correction folded into the learning rate, as
    scikit-learn writes it: ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``,
    step ``-lr_t * m / (sqrt(v) + eps)``."""

    def __init__(self, size, dtype, lr, beta_1, beta_2, epsilon):
        self.learning_rate_init = float(lr)
        self.learning_rate = float(lr)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)

    def step(self, params, grad, n_coef, l2):
        """As ``SGD.step``, with Adam's update."""
        cast = params.dtype.type
        self.advance(1)
        scalars = (np.float64(self.learning_rate),) + self._constants(cast)
        return fused.fused_step(
            params, grad, self.m, self.v, n_coef, cast(l2), fused.ADAM, scalars
        )

    def _rate(self, t):
        """The bias-corrected rate of step ``t`` (1-based)."""
        # a NumPy float64, as in scikit-learn: the step is computed in float64
        return (
            self.learning_rate_init * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        )

    def _constants(self, cast):
        b1, b2 = self.beta_1, self.beta_2
        return (cast(b1), cast(1 - b1), cast(b2), cast(1 - b2), cast(self.epsilon))

    def epoch_scalars(self, steps):
        """As ``SGD.epoch_scalars``: the rates of the next ``steps`` steps
        and the constant scalars (counting no step: see ``advance``)."""
        rates = [self._rate(t) for t in range(self.t + 1, self.t + 1 + steps)]
        constants = self._constants(self.m.dtype.type)
        return fused.ADAM, np.array(rates, np.float64), constants, self.m, self.v

    def advance(self, steps):
        """Count ``steps`` steps (run here or elsewhere) and take the last
        one's rate as the current ``learning_rate``."""
        if steps:
            self.t += steps
            self.learning_rate = self._rate(self.t)

    def iteration_ends(self, samples_seen):
        pass

    def trigger_stopping(self, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


def lbfgs(network, flat, X, Y, sample_weight, max_iter, max_fun, tol, verbose):
    """Minimise the full-batch loss with L-BFGS-B from ``flat`` (updated in
    place); returns (n_iter, final loss). Warns ``ConvergenceWarning`` when
    it stops on max_iter or max_fun, as scikit-learn does."""
    grad = np.empty_like(flat)

    def fun(x):
        # SciPy works in float64; the network computes in the data's dtype
        flat[:] = x
        loss = network.loss_and_grad(flat, grad, X, Y, sample_weight)
        return loss, grad.astype(np.float64)

    result = scipy.optimize.minimize(
        fun,
        flat.astype(np.float64),
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    if verbose:
        print(f"L-BFGS-B: {result.message} after {result.nit} iterations")
    if result.status != 0:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}):\n{message}.\n\n"
            "Increase the number of iterations to improve the convergence "
            f"(max_iter={max_iter}).",
            ConvergenceWarning,
            stacklevel=3,
        )
    flat[:] = result.x
    return min(result.nit, max_iter), float(result.fun)
