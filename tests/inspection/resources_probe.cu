// Test input of `p2p inspect kernels`: one kernel with 1 KiB of static shared memory, one
// with a per-thread array indexed at run time (it must live in local memory).
extern "C" __global__ void shared_tile_f32(const float* x, float* y, int n) {
    __shared__ float tile[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    tile[threadIdx.x] = i < n ? x[i] : 0.f;
    __syncthreads();
    if (i < n) y[i] = tile[255 - threadIdx.x];
}

extern "C" __global__ void local_array_f32(const int* index, float* y, int n) {
    float table[64];
    for (int k = 0; k < 64; ++k) table[k] = k * 0.5f;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = table[index[i] & 63];
}
