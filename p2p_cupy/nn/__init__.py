"""Modules: layers holding parameters, with forward and hand-written backward."""
from p2p_cupy.nn.module import Module, Parameter, Sequential  # noqa: F401
from p2p_cupy.nn.conv import Conv2d, ConvTranspose2d  # noqa: F401
from p2p_cupy.nn.norm import BatchNorm2d, InstanceNorm2d  # noqa: F401
from p2p_cupy.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh  # noqa: F401
from p2p_cupy.nn.dropout import Dropout  # noqa: F401
from p2p_cupy.nn.pad import Identity, ReflectionPad2d  # noqa: F401
