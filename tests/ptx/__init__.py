"""Every CUDA kernel compiled to PTX by NVIDIA's compiler (NVVM), no GPU needed."""
