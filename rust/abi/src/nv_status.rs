//! RM status codes (`nvstatuscodes.h`): what the RM writes into a parameter struct's status
//! field. The ioctl itself returns 0 for RM escapes whatever the status.

/// An RM status (`NV_STATUS`).
pub type NvStatus = u32;

/// `NV_OK`: Success.
pub const NV_OK: NvStatus = 0x0;
/// `NV_ERR_GENERIC`: Generic error.
pub const NV_ERR_GENERIC: NvStatus = 0xffff;
/// `NV_ERR_ILLEGAL_ACTION`: The current action is not allowed.
pub const NV_ERR_ILLEGAL_ACTION: NvStatus = 0x16;
/// `NV_ERR_INSERT_DUPLICATE_NAME`: A duplicate handle.
pub const NV_ERR_INSERT_DUPLICATE_NAME: NvStatus = 0x19;
/// `NV_ERR_INSUFFICIENT_RESOURCES`: Out of a critical resource other than memory (e.g. channels).
pub const NV_ERR_INSUFFICIENT_RESOURCES: NvStatus = 0x1a;
/// `NV_ERR_INSUFFICIENT_PERMISSIONS`: The requester lacks permission.
pub const NV_ERR_INSUFFICIENT_PERMISSIONS: NvStatus = 0x1b;
/// `NV_ERR_INVALID_ARGUMENT`: Invalid argument.
pub const NV_ERR_INVALID_ARGUMENT: NvStatus = 0x1f;
/// `NV_ERR_INVALID_CLASS`: Unknown class id.
pub const NV_ERR_INVALID_CLASS: NvStatus = 0x22;
/// `NV_ERR_INVALID_COMMAND`: Invalid command.
pub const NV_ERR_INVALID_COMMAND: NvStatus = 0x24;
/// `NV_ERR_INVALID_FLAGS`: Invalid flags.
pub const NV_ERR_INVALID_FLAGS: NvStatus = 0x29;
/// `NV_ERR_INVALID_LIMIT`: Invalid limit.
pub const NV_ERR_INVALID_LIMIT: NvStatus = 0x2e;
/// `NV_ERR_INVALID_OBJECT_HANDLE`: Invalid object handle.
pub const NV_ERR_INVALID_OBJECT_HANDLE: NvStatus = 0x33;
/// `NV_ERR_INVALID_OBJECT_PARENT`: Invalid object parent.
pub const NV_ERR_INVALID_OBJECT_PARENT: NvStatus = 0x36;
/// `NV_ERR_INVALID_PARAM_STRUCT`: Invalid parameter structure.
pub const NV_ERR_INVALID_PARAM_STRUCT: NvStatus = 0x3a;
/// `NV_ERR_INVALID_POINTER`: Invalid pointer.
pub const NV_ERR_INVALID_POINTER: NvStatus = 0x3d;
/// `NV_ERR_INVALID_STATE`: Invalid state.
pub const NV_ERR_INVALID_STATE: NvStatus = 0x40;
/// `NV_ERR_NO_MEMORY`: Out of memory: what an allocation over capacity or quota gets.
pub const NV_ERR_NO_MEMORY: NvStatus = 0x51;
/// `NV_ERR_NOT_SUPPORTED`: Call not supported.
pub const NV_ERR_NOT_SUPPORTED: NvStatus = 0x56;
/// `NV_ERR_INVALID_CHANNEL`: Given channel-id not valid.
pub const NV_ERR_INVALID_CHANNEL: NvStatus = 0x21;
/// `NV_ERR_OBJECT_NOT_FOUND`: Object not found.
pub const NV_ERR_OBJECT_NOT_FOUND: NvStatus = 0x57;
/// `NV_ERR_OPERATING_SYSTEM`: Operating system error.
pub const NV_ERR_OPERATING_SYSTEM: NvStatus = 0x59;
/// `NV_ERR_STATE_IN_USE`: State in use.
pub const NV_ERR_STATE_IN_USE: NvStatus = 0x63;

/// `NV_ERR_BUFFER_TOO_SMALL`: Buffer too small.
pub const NV_ERR_BUFFER_TOO_SMALL: NvStatus = 0x2;
/// `NV_ERR_INVALID_ADDRESS`: Invalid address.
pub const NV_ERR_INVALID_ADDRESS: NvStatus = 0x1e;
/// `NV_ERR_INVALID_CLIENT`: Invalid client handle (or a client of another file).
pub const NV_ERR_INVALID_CLIENT: NvStatus = 0x23;
/// `NV_ERR_INVALID_DEVICE`: Invalid device.
pub const NV_ERR_INVALID_DEVICE: NvStatus = 0x26;
/// `NV_ERR_INVALID_OFFSET`: The offset passed is not valid.
pub const NV_ERR_INVALID_OFFSET: NvStatus = 0x37;
/// `NV_ERR_UVM_ADDRESS_IN_USE`: UVM's requested address already in use.
pub const NV_ERR_UVM_ADDRESS_IN_USE: NvStatus = 0x68;
/// `NV_WARN_NOTHING_TO_DO`: Warning: nothing to do.
pub const NV_WARN_NOTHING_TO_DO: NvStatus = 0x10006;

/// `NV_ERR_BUSY_RETRY`: Busy, retry later.
pub const NV_ERR_BUSY_RETRY: NvStatus = 0x3;
/// `NV_ERR_GPU_UUID_NOT_FOUND`: No GPU has that UUID.
pub const NV_ERR_GPU_UUID_NOT_FOUND: NvStatus = 0x12;
/// `NV_ERR_IN_USE`: Busy: already set up.
pub const NV_ERR_IN_USE: NvStatus = 0x17;

/// `NV_ERR_INVALID_EVENT`: no such OS event.
pub const NV_ERR_INVALID_EVENT: NvStatus = 0x28;

/// The claims of this file, as `(C name, value)`, for `tests/conformance`.
pub const LAYOUT_CLAIMS: &[(&str, usize)] = &[
    ("NV_OK", NV_OK as usize),
    ("NV_ERR_GENERIC", NV_ERR_GENERIC as usize),
    ("NV_ERR_ILLEGAL_ACTION", NV_ERR_ILLEGAL_ACTION as usize),
    (
        "NV_ERR_INSERT_DUPLICATE_NAME",
        NV_ERR_INSERT_DUPLICATE_NAME as usize,
    ),
    (
        "NV_ERR_INSUFFICIENT_RESOURCES",
        NV_ERR_INSUFFICIENT_RESOURCES as usize,
    ),
    (
        "NV_ERR_INSUFFICIENT_PERMISSIONS",
        NV_ERR_INSUFFICIENT_PERMISSIONS as usize,
    ),
    ("NV_ERR_INVALID_ARGUMENT", NV_ERR_INVALID_ARGUMENT as usize),
    ("NV_ERR_INVALID_CLASS", NV_ERR_INVALID_CLASS as usize),
    ("NV_ERR_INVALID_COMMAND", NV_ERR_INVALID_COMMAND as usize),
    ("NV_ERR_INVALID_FLAGS", NV_ERR_INVALID_FLAGS as usize),
    ("NV_ERR_INVALID_LIMIT", NV_ERR_INVALID_LIMIT as usize),
    (
        "NV_ERR_INVALID_OBJECT_HANDLE",
        NV_ERR_INVALID_OBJECT_HANDLE as usize,
    ),
    (
        "NV_ERR_INVALID_OBJECT_PARENT",
        NV_ERR_INVALID_OBJECT_PARENT as usize,
    ),
    (
        "NV_ERR_INVALID_PARAM_STRUCT",
        NV_ERR_INVALID_PARAM_STRUCT as usize,
    ),
    ("NV_ERR_INVALID_POINTER", NV_ERR_INVALID_POINTER as usize),
    ("NV_ERR_INVALID_STATE", NV_ERR_INVALID_STATE as usize),
    ("NV_ERR_NO_MEMORY", NV_ERR_NO_MEMORY as usize),
    ("NV_ERR_NOT_SUPPORTED", NV_ERR_NOT_SUPPORTED as usize),
    ("NV_ERR_OBJECT_NOT_FOUND", NV_ERR_OBJECT_NOT_FOUND as usize),
    ("NV_ERR_OPERATING_SYSTEM", NV_ERR_OPERATING_SYSTEM as usize),
    ("NV_ERR_STATE_IN_USE", NV_ERR_STATE_IN_USE as usize),
    ("NV_ERR_BUFFER_TOO_SMALL", NV_ERR_BUFFER_TOO_SMALL as usize),
    ("NV_ERR_INVALID_ADDRESS", NV_ERR_INVALID_ADDRESS as usize),
    ("NV_ERR_INVALID_CLIENT", NV_ERR_INVALID_CLIENT as usize),
    ("NV_ERR_INVALID_CHANNEL", NV_ERR_INVALID_CHANNEL as usize),
    ("NV_ERR_INVALID_DEVICE", NV_ERR_INVALID_DEVICE as usize),
    ("NV_ERR_INVALID_OFFSET", NV_ERR_INVALID_OFFSET as usize),
    (
        "NV_ERR_UVM_ADDRESS_IN_USE",
        NV_ERR_UVM_ADDRESS_IN_USE as usize,
    ),
    ("NV_WARN_NOTHING_TO_DO", NV_WARN_NOTHING_TO_DO as usize),
    ("NV_ERR_BUSY_RETRY", NV_ERR_BUSY_RETRY as usize),
    (
        "NV_ERR_GPU_UUID_NOT_FOUND",
        NV_ERR_GPU_UUID_NOT_FOUND as usize,
    ),
    ("NV_ERR_IN_USE", NV_ERR_IN_USE as usize),
    ("NV_ERR_INVALID_EVENT", NV_ERR_INVALID_EVENT as usize),
];
