"""Serial vs prange elementwise kernels between OpenBLAS calls, in one training step.

The measurement behind the threading choice written in kernels/cpu/__init__.py:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/threading_check.py
    NUMBA_THREADING_LAYER=workqueue python benchmarks/threading_check.py
"""
import time, numpy as np, numba
from numba import prange
from fastnn.kernels.cpu import dense, optim
def med(f, n=50):
    for _ in range(5): f()
    ts=[]
    for _ in range(n):
        s=time.perf_counter(); f(); ts.append(time.perf_counter()-s)
    return np.median(ts)*1e3
@numba.njit(parallel=True)
def par_bias_relu(out, b):
    R,C=out.shape
    for i in prange(R):
        for j in range(C):
            z=out[i,j]+b[j]; out[i,j]= z if z>0 else 0.0
@numba.njit(parallel=True)
def par_grad(out, dout, db):
    R,C=out.shape
    for j in prange(C):
        s=0.0
        for i in range(R):
            g = dout[i,j] if out[i,j]>0 else 0.0
            dout[i,j]=g; s+=g
        db[j]=s
@numba.njit(parallel=True)
def par_sgd(p,g,v,lr,m):
    for i in prange(p.size):
        v[i]=v[i]*m+g[i]; p[i]-=lr*v[i]
@numba.njit
def fwd(x,w,o,b, par):
    np.dot(x,w,o)
@numba.njit
def bwd(x,w,g,dx,dw):
    np.dot(x.T,g,dw)
    if dx is not None: np.dot(g,w.T,dx)
rng=np.random.default_rng(0); sizes=[784,512,512,10]; B=128
W=[rng.standard_normal((a,b)).astype(np.float32)*0.05 for a,b in zip(sizes,sizes[1:])]
bs=[np.zeros(b,np.float32) for b in sizes[1:]]
acts=[rng.random((B,784),dtype=np.float32)]+[np.empty((B,s),np.float32) for s in sizes[1:]]
grads=[None]+[rng.standard_normal((B,s)).astype(np.float32) for s in sizes[1:]]
dW=[np.empty_like(w) for w in W]; db=[np.empty_like(b) for b in bs]
P=np.zeros(sum(w.size for w in W),np.float32); G=np.ones_like(P); V=np.zeros_like(P)
def step_serial():
    for k in range(3):
        dense.dense_forward(acts[k],W[k],bs[k],acts[k+1],"relu" if k<2 else "identity")
    for k in (2,1,0):
        dense.dense_backward(acts[k],W[k],acts[k+1],grads[k+1],grads[k] if k else None,dW[k],db[k],"relu" if k<2 else "identity")
    optim.sgd_update(P,G,V,2,0.001,0.9)
def step_parallel():
    for k in range(3):
        np.dot(acts[k],W[k],acts[k+1]); par_bias_relu(acts[k+1],bs[k])
    for k in (2,1,0):
        par_grad(acts[k+1],grads[k+1],db[k]); bwd(acts[k],W[k],grads[k+1],grads[k] if k else None,dW[k])
    par_sgd(P,G,V,np.float32(0.001),np.float32(0.9))
print("threading layer", numba.config.THREADING_LAYER, "threads", numba.get_num_threads())
print("serial fused step %.2f ms" % med(step_serial))
print("prange epilogue step %.2f ms" % med(step_parallel))
print("layer used:", numba.threading_layer())
