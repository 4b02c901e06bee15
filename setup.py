"""Packaging for p2p-cupy.

The top level is fixed by the design: the framework lives in p2p_cupy/, the CUDA sources
and their loader/emulator in kernels/ (installed as p2p_cupy.kernels), and the click
commands in cli/ (installed as p2p_cupy.cli).
"""
from setuptools import setup

setup(
    name="p2p-cupy",
    version="0.1.0",
    description="pix2pix from scratch: NumPy and CuPy + hand-written CUDA kernels, manual backprop",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "p2p_cupy",
        "p2p_cupy.ops",
        "p2p_cupy.nn",
        "p2p_cupy.data",
        "p2p_cupy.models",
        "p2p_cupy.gradcheck",
        "p2p_cupy.train",
        "p2p_cupy.inspection",
        "p2p_cupy.interop",
        "p2p_cupy.evaluation",
        "p2p_cupy.bench",
        "p2p_cupy.quality",
        "p2p_cupy.parallel",
        "p2p_cupy.serve",
        "p2p_cupy.kernels",
        "p2p_cupy.kernels.emu",
        "p2p_cupy.cli",
    ],
    package_dir={
        "p2p_cupy.kernels": "kernels",
        "p2p_cupy.kernels.emu": "kernels/emu",
        "p2p_cupy.cli": "cli",
    },
    package_data={
        "p2p_cupy.serve": ["static/*"],
        "p2p_cupy.kernels": ["*.cu", "*.cuh", "README.md"],
        "p2p_cupy.kernels.emu": ["*.h", "*.cpp", "*.cu"],
    },
    install_requires=["numpy>=1.22", "pillow>=9", "click>=8"],
    extras_require={
        # onnx + onnxruntime: the ONNX export tests run the exported file (wheels, ~5 s)
        # mpi4py + mpich: the data-parallel tests run `mpiexec -n 2` (wheels, ~7 s)
        "test": ["pytest>=7", "hypothesis>=6", "onnx>=1.14", "onnxruntime>=1.16",
                 "mpi4py>=3.1", "mpich"],
        "export": ["onnx>=1.14", "onnxruntime>=1.16"],
        # data-parallel training: mpiexec -n N p2p train (docs/SCALING.md); on a cluster,
        # leave out mpich and build mpi4py against the cluster's MPI
        "mpi": ["mpi4py>=3.1", "mpich"],
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=13"],
    },
    entry_points={"console_scripts": ["p2p=p2p_cupy.cli.main:main"]},
)
