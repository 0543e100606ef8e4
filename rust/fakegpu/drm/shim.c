// SPDX-License-Identifier: GPL-2.0
/*
 * GEM objects of the DRM drivers fakegpu fronts, for the meter (drm/meter.rs): the object
 * behind a handle of a real DRM file, its size, and its reference count. drm_gem_object_put
 * is a static inline. fakegpu links against the DRM core for this (drm.ko where DRM is a
 * module).
 */
#include <drm/drm_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/nospec.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

void *fakegpu_gem_lookup(struct file *filp, u32 handle);
size_t fakegpu_gem_size(void *obj);
unsigned int fakegpu_gem_refs(void *obj);
void fakegpu_gem_put(void *obj);
int fakegpu_drm_driver_name(struct file *filp, char *buf, size_t len);
u64 fakegpu_now_ns(void);
unsigned long fakegpu_sleep_interruptible(unsigned int ms);
long fakegpu_drm_ioctl_copy(struct file *filp, unsigned int cmd, void *kdata, size_t len);

/* The object behind @handle of the DRM file @filp, with a reference; NULL if none. */
void *fakegpu_gem_lookup(struct file *filp, u32 handle)
{
	struct drm_file *priv = filp->private_data;

	return priv ? drm_gem_object_lookup(priv, handle) : NULL;
}

size_t fakegpu_gem_size(void *obj)
{
	return ((struct drm_gem_object *)obj)->size;
}

/* References on the object: 1 means fakegpu's is the last. */
unsigned int fakegpu_gem_refs(void *obj)
{
	return kref_read(&((struct drm_gem_object *)obj)->refcount);
}

void fakegpu_gem_put(void *obj)
{
	drm_gem_object_put(obj);
}

/* The name of the DRM driver behind the real DRM file @filp ("virtio_gpu", "vgem"). */
int fakegpu_drm_driver_name(struct file *filp, char *buf, size_t len)
{
	struct drm_file *priv = filp->private_data;

	if (!priv || !priv->minor || !priv->minor->dev || !priv->minor->dev->driver)
		return -ENODEV;
	return strscpy(buf, priv->minor->dev->driver->name, len);
}

u64 fakegpu_now_ns(void)
{
	return ktime_get_ns();
}

/* Sleeps @ms; returns what was left if a signal woke the task (0 otherwise). */
unsigned long fakegpu_sleep_interruptible(unsigned int ms)
{
	return msleep_interruptible(ms);
}

/* DRM_IOCTL_MODE_CREATE_DUMB as the DRM core makes it (drm_mode_create_dumb, not exported). */
static int fakegpu_create_dumb(struct drm_device *dev, void *data, struct drm_file *file_priv)
{
	struct drm_mode_create_dumb *args = data;
	u32 cpp, stride, size;

	if (!dev->driver->dumb_create)
		return -ENOSYS;
	if (!args->width || !args->height || !args->bpp)
		return -EINVAL;
	if (args->bpp > U32_MAX - 8)
		return -EINVAL;
	cpp = DIV_ROUND_UP(args->bpp, 8);
	if (cpp > U32_MAX / args->width)
		return -EINVAL;
	stride = cpp * args->width;
	if (args->height > U32_MAX / stride)
		return -EINVAL;
	size = args->height * stride;
	if (PAGE_ALIGN(size) == 0)
		return -EINVAL;
	args->handle = 0;
	args->pitch = 0;
	args->size = 0;
	return dev->driver->dumb_create(file_priv, dev, args);
}

/*
 * The ioctl @cmd on the real DRM file @filp, in the calling task, with its arguments in
 * fakegpu's kernel copy @kdata (@len bytes, zero past the caller's struct): what drm_ioctl()
 * does after copying them in, through drm_ioctl_kernel(), so the permission checks are the
 * core's. CREATE_DUMB and driver ioctls only (the buffer-creating calls fakegpu meters).
 *
 * Made here rather than in the caller's worker: drm_ioctl_kernel() records the calling
 * process as the file's owner and, whenever that changes, waits for an RCU grace period
 * (drm_file_update_pid()), so alternating worker and caller calls on one file cost a grace
 * period on each side.
 */
long fakegpu_drm_ioctl_copy(struct file *filp, unsigned int cmd, void *kdata, size_t len)
{
	struct drm_file *priv = filp->private_data;
	const struct drm_ioctl_desc *desc;
	struct drm_device *dev;
	unsigned int nr = DRM_IOCTL_NR(cmd), index, flags;

	if (!priv || !priv->minor || !priv->minor->dev || _IOC_SIZE(cmd) > len)
		return -EINVAL;
	dev = priv->minor->dev;
	if (cmd == DRM_IOCTL_MODE_CREATE_DUMB) {
		if (!drm_ioctl_flags(nr, &flags))
			return -EINVAL;
		return drm_ioctl_kernel(filp, fakegpu_create_dumb, kdata, flags);
	}
	if (nr < DRM_COMMAND_BASE || nr >= DRM_COMMAND_END)
		return -EINVAL;
	index = nr - DRM_COMMAND_BASE;
	if (index >= dev->driver->num_ioctls)
		return -EINVAL;
	desc = &dev->driver->ioctls[array_index_nospec(index, dev->driver->num_ioctls)];
	if (!desc->func || desc->cmd != cmd || _IOC_SIZE(desc->cmd) > len)
		return -EINVAL;
	return drm_ioctl_kernel(filp, desc->func, kdata, desc->flags);
}
