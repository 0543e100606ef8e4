// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the sizes, offsets and constants that rust/abi's NVIDIA modules claim, as NVIDIA's
 * own headers of one driver family define them (Debian's nvidia-kernel-source). The names
 * are those of the Rust claims (examples/nv_layout_claims.rs); scripts/nvidia-conformance.sh
 * compares the two, family by family.
 */
#include <stddef.h>
#include <stdio.h>

#include "nv-ioctl.h"
#include "nv-ioctl-numbers.h"
#include "nv-ioctl-numa.h"
#include "nvstatus.h"
#include "uvm_ioctl.h"
#include "uvm_linux_ioctl.h"

#define CLAIM(name, value) printf("%s %zu\n", name, (size_t)(value))

int main(void)
{
	CLAIM("sizeof(nv_pci_info_t)", sizeof(nv_pci_info_t));
	CLAIM("offsetof(nv_pci_info_t,vendor_id)", offsetof(nv_pci_info_t, vendor_id));
	CLAIM("offsetof(nv_pci_info_t,device_id)", offsetof(nv_pci_info_t, device_id));
	CLAIM("sizeof(nv_ioctl_xfer_t)", sizeof(nv_ioctl_xfer_t));
	CLAIM("offsetof(nv_ioctl_xfer_t,size)", offsetof(nv_ioctl_xfer_t, size));
	CLAIM("offsetof(nv_ioctl_xfer_t,ptr)", offsetof(nv_ioctl_xfer_t, ptr));
	CLAIM("sizeof(nv_ioctl_card_info_t)", sizeof(nv_ioctl_card_info_t));
	CLAIM("offsetof(nv_ioctl_card_info_t,pci_info)", offsetof(nv_ioctl_card_info_t, pci_info));
	CLAIM("offsetof(nv_ioctl_card_info_t,gpu_id)", offsetof(nv_ioctl_card_info_t, gpu_id));
	CLAIM("offsetof(nv_ioctl_card_info_t,interrupt_line)", offsetof(nv_ioctl_card_info_t, interrupt_line));
	CLAIM("offsetof(nv_ioctl_card_info_t,reg_address)", offsetof(nv_ioctl_card_info_t, reg_address));
	CLAIM("offsetof(nv_ioctl_card_info_t,reg_size)", offsetof(nv_ioctl_card_info_t, reg_size));
	CLAIM("offsetof(nv_ioctl_card_info_t,fb_address)", offsetof(nv_ioctl_card_info_t, fb_address));
	CLAIM("offsetof(nv_ioctl_card_info_t,fb_size)", offsetof(nv_ioctl_card_info_t, fb_size));
	CLAIM("offsetof(nv_ioctl_card_info_t,minor_number)", offsetof(nv_ioctl_card_info_t, minor_number));
	CLAIM("offsetof(nv_ioctl_card_info_t,dev_name)", offsetof(nv_ioctl_card_info_t, dev_name));
	CLAIM("sizeof(nv_ioctl_alloc_os_event_t)", sizeof(nv_ioctl_alloc_os_event_t));
	CLAIM("sizeof(nv_ioctl_free_os_event_t)", sizeof(nv_ioctl_free_os_event_t));
	CLAIM("offsetof(nv_ioctl_alloc_os_event_t,fd)", offsetof(nv_ioctl_alloc_os_event_t, fd));
	CLAIM("offsetof(nv_ioctl_alloc_os_event_t,Status)", offsetof(nv_ioctl_alloc_os_event_t, Status));
	CLAIM("sizeof(nv_ioctl_status_code_t)", sizeof(nv_ioctl_status_code_t));
	CLAIM("offsetof(nv_ioctl_status_code_t,status)", offsetof(nv_ioctl_status_code_t, status));
	CLAIM("sizeof(nv_ioctl_rm_api_version_t)", sizeof(nv_ioctl_rm_api_version_t));
	CLAIM("offsetof(nv_ioctl_rm_api_version_t,versionString)", offsetof(nv_ioctl_rm_api_version_t, versionString));
	CLAIM("NV_RM_API_VERSION_STRING_LENGTH", NV_RM_API_VERSION_STRING_LENGTH);
	CLAIM("NV_RM_API_VERSION_CMD_STRICT", NV_RM_API_VERSION_CMD_STRICT);
	CLAIM("NV_RM_API_VERSION_CMD_RELAXED", NV_RM_API_VERSION_CMD_RELAXED);
	CLAIM("NV_RM_API_VERSION_CMD_QUERY", NV_RM_API_VERSION_CMD_QUERY);
	CLAIM("NV_RM_API_VERSION_REPLY_UNRECOGNIZED", NV_RM_API_VERSION_REPLY_UNRECOGNIZED);
	CLAIM("NV_RM_API_VERSION_REPLY_RECOGNIZED", NV_RM_API_VERSION_REPLY_RECOGNIZED);
	CLAIM("sizeof(nv_ioctl_query_device_intr)", sizeof(nv_ioctl_query_device_intr));
	CLAIM("sizeof(nv_ioctl_sys_params_t)", sizeof(nv_ioctl_sys_params_t));
	CLAIM("sizeof(nv_ioctl_register_fd_t)", sizeof(nv_ioctl_register_fd_t));
	CLAIM("sizeof(nv_ioctl_export_to_dma_buf_fd_t)", sizeof(nv_ioctl_export_to_dma_buf_fd_t));
	CLAIM("offsetof(nv_ioctl_export_to_dma_buf_fd_t,totalSize)", offsetof(nv_ioctl_export_to_dma_buf_fd_t, totalSize));
	CLAIM("offsetof(nv_ioctl_export_to_dma_buf_fd_t,handles)", offsetof(nv_ioctl_export_to_dma_buf_fd_t, handles));
	CLAIM("offsetof(nv_ioctl_export_to_dma_buf_fd_t,offsets)", offsetof(nv_ioctl_export_to_dma_buf_fd_t, offsets));
	CLAIM("offsetof(nv_ioctl_export_to_dma_buf_fd_t,sizes)", offsetof(nv_ioctl_export_to_dma_buf_fd_t, sizes));
	CLAIM("offsetof(nv_ioctl_export_to_dma_buf_fd_t,status)", offsetof(nv_ioctl_export_to_dma_buf_fd_t, status));
	CLAIM("NV_DMABUF_EXPORT_MAX_HANDLES", NV_DMABUF_EXPORT_MAX_HANDLES);
#ifdef NV_ESC_WAIT_OPEN_COMPLETE
	/* 550 on. */
	CLAIM("NV_ESC_WAIT_OPEN_COMPLETE", NV_ESC_WAIT_OPEN_COMPLETE);
	CLAIM("sizeof(nv_ioctl_wait_open_complete_t)", sizeof(nv_ioctl_wait_open_complete_t));
	CLAIM("offsetof(nv_ioctl_wait_open_complete_t,adapterStatus)", offsetof(nv_ioctl_wait_open_complete_t, adapterStatus));
#endif
	CLAIM("NV_IOCTL_MAGIC", NV_IOCTL_MAGIC);
	CLAIM("NV_IOCTL_BASE", NV_IOCTL_BASE);
	CLAIM("NV_ESC_CARD_INFO", NV_ESC_CARD_INFO);
	CLAIM("NV_ESC_REGISTER_FD", NV_ESC_REGISTER_FD);
	CLAIM("NV_ESC_ALLOC_OS_EVENT", NV_ESC_ALLOC_OS_EVENT);
	CLAIM("NV_ESC_FREE_OS_EVENT", NV_ESC_FREE_OS_EVENT);
	CLAIM("NV_ESC_STATUS_CODE", NV_ESC_STATUS_CODE);
	CLAIM("NV_ESC_CHECK_VERSION_STR", NV_ESC_CHECK_VERSION_STR);
	CLAIM("NV_ESC_IOCTL_XFER_CMD", NV_ESC_IOCTL_XFER_CMD);
	CLAIM("NV_ESC_ATTACH_GPUS_TO_FD", NV_ESC_ATTACH_GPUS_TO_FD);
	CLAIM("NV_ESC_QUERY_DEVICE_INTR", NV_ESC_QUERY_DEVICE_INTR);
	CLAIM("NV_ESC_SYS_PARAMS", NV_ESC_SYS_PARAMS);
	CLAIM("NV_ESC_NUMA_INFO", NV_ESC_NUMA_INFO);
	CLAIM("sizeof(nv_ioctl_numa_info_t)", sizeof(nv_ioctl_numa_info_t));
	CLAIM("offsetof(nv_ioctl_numa_info_t,status)", offsetof(nv_ioctl_numa_info_t, status));
	CLAIM("offsetof(nv_ioctl_numa_info_t,memblock_size)", offsetof(nv_ioctl_numa_info_t, memblock_size));
	CLAIM("offsetof(nv_ioctl_numa_info_t,offline_addresses.numEntries)",
	      offsetof(nv_ioctl_numa_info_t, offline_addresses.numEntries));
	CLAIM("NV_ESC_EXPORT_TO_DMABUF_FD", NV_ESC_EXPORT_TO_DMABUF_FD);
	CLAIM("sizeof(NvProcessorUuid)", sizeof(NvProcessorUuid));
	CLAIM("sizeof(UVM_INITIALIZE_PARAMS)", sizeof(UVM_INITIALIZE_PARAMS));
	CLAIM("offsetof(UVM_INITIALIZE_PARAMS,rmStatus)", offsetof(UVM_INITIALIZE_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_MM_INITIALIZE_PARAMS)", sizeof(UVM_MM_INITIALIZE_PARAMS));
	CLAIM("offsetof(UVM_MM_INITIALIZE_PARAMS,uvmFd)", offsetof(UVM_MM_INITIALIZE_PARAMS, uvmFd));
	CLAIM("offsetof(UVM_MM_INITIALIZE_PARAMS,rmStatus)", offsetof(UVM_MM_INITIALIZE_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_REGISTER_GPU_PARAMS)", sizeof(UVM_REGISTER_GPU_PARAMS));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,numaEnabled)", offsetof(UVM_REGISTER_GPU_PARAMS, numaEnabled));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,numaNodeId)", offsetof(UVM_REGISTER_GPU_PARAMS, numaNodeId));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,rmCtrlFd)", offsetof(UVM_REGISTER_GPU_PARAMS, rmCtrlFd));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,hClient)", offsetof(UVM_REGISTER_GPU_PARAMS, hClient));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,hSmcPartRef)", offsetof(UVM_REGISTER_GPU_PARAMS, hSmcPartRef));
	CLAIM("offsetof(UVM_REGISTER_GPU_PARAMS,rmStatus)", offsetof(UVM_REGISTER_GPU_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_UNREGISTER_GPU_PARAMS)", sizeof(UVM_UNREGISTER_GPU_PARAMS));
	CLAIM("sizeof(UVM_REGISTER_GPU_VASPACE_PARAMS)", sizeof(UVM_REGISTER_GPU_VASPACE_PARAMS));
	CLAIM("offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,rmCtrlFd)", offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS, rmCtrlFd));
	CLAIM("offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,hVaSpace)", offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS, hVaSpace));
	CLAIM("offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,rmStatus)", offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_UNREGISTER_GPU_VASPACE_PARAMS)", sizeof(UVM_UNREGISTER_GPU_VASPACE_PARAMS));
	CLAIM("sizeof(UVM_REGISTER_CHANNEL_PARAMS)", sizeof(UVM_REGISTER_CHANNEL_PARAMS));
	CLAIM("offsetof(UVM_REGISTER_CHANNEL_PARAMS,rmCtrlFd)", offsetof(UVM_REGISTER_CHANNEL_PARAMS, rmCtrlFd));
	CLAIM("offsetof(UVM_REGISTER_CHANNEL_PARAMS,hChannel)", offsetof(UVM_REGISTER_CHANNEL_PARAMS, hChannel));
	CLAIM("offsetof(UVM_REGISTER_CHANNEL_PARAMS,base)", offsetof(UVM_REGISTER_CHANNEL_PARAMS, base));
	CLAIM("offsetof(UVM_REGISTER_CHANNEL_PARAMS,length)", offsetof(UVM_REGISTER_CHANNEL_PARAMS, length));
	CLAIM("offsetof(UVM_REGISTER_CHANNEL_PARAMS,rmStatus)", offsetof(UVM_REGISTER_CHANNEL_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_UNREGISTER_CHANNEL_PARAMS)", sizeof(UVM_UNREGISTER_CHANNEL_PARAMS));
	CLAIM("sizeof(UVM_PAGEABLE_MEM_ACCESS_PARAMS)", sizeof(UVM_PAGEABLE_MEM_ACCESS_PARAMS));
	CLAIM("UVM_INITIALIZE", UVM_INITIALIZE);
	CLAIM("UVM_DEINITIALIZE", UVM_DEINITIALIZE);
	CLAIM("UVM_REGISTER_GPU_VASPACE", UVM_REGISTER_GPU_VASPACE);
	CLAIM("UVM_UNREGISTER_GPU_VASPACE", UVM_UNREGISTER_GPU_VASPACE);
	CLAIM("UVM_REGISTER_CHANNEL", UVM_REGISTER_CHANNEL);
	CLAIM("UVM_UNREGISTER_CHANNEL", UVM_UNREGISTER_CHANNEL);
	CLAIM("UVM_REGISTER_GPU", UVM_REGISTER_GPU);
	CLAIM("UVM_UNREGISTER_GPU", UVM_UNREGISTER_GPU);
	CLAIM("UVM_PAGEABLE_MEM_ACCESS", UVM_PAGEABLE_MEM_ACCESS);
	CLAIM("sizeof(UvmGpuMappingAttributes)", sizeof(UvmGpuMappingAttributes));
	CLAIM("sizeof(UVM_CREATE_RANGE_GROUP_PARAMS)", sizeof(UVM_CREATE_RANGE_GROUP_PARAMS));
	CLAIM("offsetof(UVM_CREATE_RANGE_GROUP_PARAMS,rmStatus)", offsetof(UVM_CREATE_RANGE_GROUP_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_DESTROY_RANGE_GROUP_PARAMS)", sizeof(UVM_DESTROY_RANGE_GROUP_PARAMS));
	CLAIM("sizeof(UVM_CREATE_EXTERNAL_RANGE_PARAMS)", sizeof(UVM_CREATE_EXTERNAL_RANGE_PARAMS));
	CLAIM("offsetof(UVM_CREATE_EXTERNAL_RANGE_PARAMS,rmStatus)", offsetof(UVM_CREATE_EXTERNAL_RANGE_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_VALIDATE_VA_RANGE_PARAMS)", sizeof(UVM_VALIDATE_VA_RANGE_PARAMS));
	CLAIM("sizeof(UVM_FREE_PARAMS)", sizeof(UVM_FREE_PARAMS));
	CLAIM("sizeof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS)", sizeof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,offset)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, offset));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,perGpuAttributes)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, perGpuAttributes));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,gpuAttributesCount)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, gpuAttributesCount));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmCtrlFd)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, rmCtrlFd));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hClient)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, hClient));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hMemory)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, hMemory));
	CLAIM("offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmStatus)", offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_UNMAP_EXTERNAL_PARAMS)", sizeof(UVM_UNMAP_EXTERNAL_PARAMS));
	CLAIM("offsetof(UVM_UNMAP_EXTERNAL_PARAMS,gpuUuid)", offsetof(UVM_UNMAP_EXTERNAL_PARAMS, gpuUuid));
	CLAIM("offsetof(UVM_UNMAP_EXTERNAL_PARAMS,rmStatus)", offsetof(UVM_UNMAP_EXTERNAL_PARAMS, rmStatus));
	CLAIM("sizeof(UVM_MAP_DYNAMIC_PARALLELISM_REGION_PARAMS)", sizeof(UVM_MAP_DYNAMIC_PARALLELISM_REGION_PARAMS));
	CLAIM("sizeof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS)", sizeof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS));
	CLAIM("offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,gpuAttributesCount)", offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS, gpuAttributesCount));
	CLAIM("offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,rmStatus)", offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS, rmStatus));
	CLAIM("UVM_CREATE_RANGE_GROUP", UVM_CREATE_RANGE_GROUP);
	CLAIM("UVM_DESTROY_RANGE_GROUP", UVM_DESTROY_RANGE_GROUP);
	CLAIM("UVM_MAP_EXTERNAL_ALLOCATION", UVM_MAP_EXTERNAL_ALLOCATION);
	CLAIM("UVM_FREE", UVM_FREE);
	CLAIM("UVM_MAP_DYNAMIC_PARALLELISM_REGION", UVM_MAP_DYNAMIC_PARALLELISM_REGION);
	CLAIM("UVM_UNMAP_EXTERNAL", UVM_UNMAP_EXTERNAL);
	CLAIM("UVM_ALLOC_SEMAPHORE_POOL", UVM_ALLOC_SEMAPHORE_POOL);
	CLAIM("UVM_VALIDATE_VA_RANGE", UVM_VALIDATE_VA_RANGE);
	CLAIM("UVM_CREATE_EXTERNAL_RANGE", UVM_CREATE_EXTERNAL_RANGE);
	CLAIM("UVM_MM_INITIALIZE", UVM_MM_INITIALIZE);
	CLAIM("NV_OK", NV_OK);
	CLAIM("NV_ERR_GENERIC", NV_ERR_GENERIC);
	CLAIM("NV_ERR_ILLEGAL_ACTION", NV_ERR_ILLEGAL_ACTION);
	CLAIM("NV_ERR_INSERT_DUPLICATE_NAME", NV_ERR_INSERT_DUPLICATE_NAME);
	CLAIM("NV_ERR_INSUFFICIENT_RESOURCES", NV_ERR_INSUFFICIENT_RESOURCES);
	CLAIM("NV_ERR_INSUFFICIENT_PERMISSIONS", NV_ERR_INSUFFICIENT_PERMISSIONS);
	CLAIM("NV_ERR_INVALID_ARGUMENT", NV_ERR_INVALID_ARGUMENT);
	CLAIM("NV_ERR_INVALID_CLASS", NV_ERR_INVALID_CLASS);
	CLAIM("NV_ERR_INVALID_COMMAND", NV_ERR_INVALID_COMMAND);
	CLAIM("NV_ERR_INVALID_FLAGS", NV_ERR_INVALID_FLAGS);
	CLAIM("NV_ERR_INVALID_LIMIT", NV_ERR_INVALID_LIMIT);
	CLAIM("NV_ERR_INVALID_OBJECT_HANDLE", NV_ERR_INVALID_OBJECT_HANDLE);
	CLAIM("NV_ERR_INVALID_OBJECT_PARENT", NV_ERR_INVALID_OBJECT_PARENT);
	CLAIM("NV_ERR_INVALID_PARAM_STRUCT", NV_ERR_INVALID_PARAM_STRUCT);
	CLAIM("NV_ERR_INVALID_POINTER", NV_ERR_INVALID_POINTER);
	CLAIM("NV_ERR_INVALID_STATE", NV_ERR_INVALID_STATE);
	CLAIM("NV_ERR_NO_MEMORY", NV_ERR_NO_MEMORY);
	CLAIM("NV_ERR_NOT_SUPPORTED", NV_ERR_NOT_SUPPORTED);
	CLAIM("NV_ERR_OBJECT_NOT_FOUND", NV_ERR_OBJECT_NOT_FOUND);
	CLAIM("NV_ERR_OPERATING_SYSTEM", NV_ERR_OPERATING_SYSTEM);
	CLAIM("NV_ERR_STATE_IN_USE", NV_ERR_STATE_IN_USE);
	CLAIM("NV_ERR_BUFFER_TOO_SMALL", NV_ERR_BUFFER_TOO_SMALL);
	CLAIM("NV_ERR_INVALID_ADDRESS", NV_ERR_INVALID_ADDRESS);
	CLAIM("NV_ERR_INVALID_CLIENT", NV_ERR_INVALID_CLIENT);
	CLAIM("NV_ERR_INVALID_CHANNEL", NV_ERR_INVALID_CHANNEL);
	CLAIM("NV_ERR_INVALID_DEVICE", NV_ERR_INVALID_DEVICE);
	CLAIM("NV_ERR_INVALID_OFFSET", NV_ERR_INVALID_OFFSET);
	CLAIM("NV_ERR_UVM_ADDRESS_IN_USE", NV_ERR_UVM_ADDRESS_IN_USE);
	CLAIM("NV_WARN_NOTHING_TO_DO", NV_WARN_NOTHING_TO_DO);
	CLAIM("NV_ERR_BUSY_RETRY", NV_ERR_BUSY_RETRY);
	CLAIM("NV_ERR_GPU_UUID_NOT_FOUND", NV_ERR_GPU_UUID_NOT_FOUND);
	CLAIM("NV_ERR_IN_USE", NV_ERR_IN_USE);
	CLAIM("NV_ERR_INVALID_EVENT", NV_ERR_INVALID_EVENT);
	return 0;
}
