// SPDX-License-Identifier: GPL-2.0
/*
 * GEM objects of the DRM drivers fakegpu fronts, for the meter (drm_meter.rs): the object
 * behind a handle of a real DRM file, its size, and its reference count. drm_gem_object_put
 * is a static inline. fakegpu links against the DRM core for this (drm.ko where DRM is a
 * module).
 */
#include <drm/drm_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

void *fakegpu_gem_lookup(struct file *filp, u32 handle);
size_t fakegpu_gem_size(void *obj);
unsigned int fakegpu_gem_refs(void *obj);
void fakegpu_gem_put(void *obj);
int fakegpu_drm_driver_name(struct file *filp, char *buf, size_t len);
u64 fakegpu_now_ns(void);
unsigned long fakegpu_sleep_interruptible(unsigned int ms);

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
