"""tiny: neural networks to bit-exact C firmware for microcontrollers."""
__version__ = "0.1.0"
