/* All kernel prototypes. Portable (ref) and optimized (arm) variants share them. */
#ifndef TINY_KERNELS_H
#define TINY_KERNELS_H
#include "tiny/types.h"
#include "tiny/kernels_conv.h"
#include "tiny/kernels_elementwise.h"
#include "tiny/kernels_inplace.h"
#include "tiny/kernels_window.h"
#include "tiny/kernels_shape.h"
#include "tiny/kernels_elementwise_ext.h"
#include "tiny/kernels_conv_ext.h"
#include "tiny/kernels_arm.h"
#endif
