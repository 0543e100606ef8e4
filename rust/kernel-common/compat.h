/* SPDX-License-Identifier: GPL-2.0 */
/* The C shims' line differences: compat_7.h on 7.x kernels, compat_6_12.h on 6.12. */
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
#include "compat_7.h"
#else
#include "compat_6_12.h"
#endif
