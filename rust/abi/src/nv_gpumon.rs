//! `NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2` (`ctrl2080perf.h`): the driver's
//! ring of per-process utilisation samples, about 10 s of history. Each sample says how busy
//! each engine was over the sample's period (in pct*100) and which process was active on it
//! when the sample was taken: the process that made the client of the channel then running.
//! NVML's process utilisation reads it; fakegpu reads it to meter GPU time per cgroup.
//!
//! The parameters: `{u8 type; u32 bufSize; u32 count; u32 tracker; samples[72]}` (the samples
//! 8-aligned, from byte 16). A sample is `{u64 timeStamp; engine fb, gr, nvenc, nvdec}` in
//! 535, with `nvjpg` and `nvofa` added in 550; an engine sample is
//! `{u32 util; u32 vgpuScale; u32 procId; u32 subProcessID; char subProcessName[100]}`. The
//! ring's `tracker` is the oldest entry; entries with a zero timestamp were never written.

use super::pod::{read_pod, write_pod};

/// The command (a subdevice's; `NON_PRIVILEGED`, routed to the GPU's own firmware).
pub const CMD: u32 = 0x2080_2096;
/// `NV2080_CTRL_PERF_GPUMON_SAMPLE_COUNT_PERFMON_UTIL`.
pub const SAMPLE_COUNT: usize = 72;
/// `NV2080_CTRL_GPUMON_SAMPLE_TYPE_PERFMON_UTIL`.
pub const SAMPLE_TYPE_PERFMON_UTIL: u8 = 2;
/// `NV2080_GPUMON_PID_INVALID`: no process was active on the engine.
pub const PID_INVALID: u32 = u32::MAX;
/// What `util` counts to for an engine busy the whole period (pct*100).
pub const UTIL_FULL: u32 = 10_000;

/// Header offsets.
pub const TYPE_AT: usize = 0;
/// `bufSize`: the bytes of the sample array.
pub const BUF_SIZE_AT: usize = 4;
/// `count`: entries of the ring.
pub const COUNT_AT: usize = 8;
/// `tracker`: the oldest entry (the next one written).
pub const TRACKER_AT: usize = 12;
/// The first sample.
pub const SAMPLES_AT: usize = 16;

/// Bytes of one engine sample.
pub const ENGINE_SAMPLE_SIZE: usize = 16 + 100;
/// Where the GR engine's sample sits in a sample (after the timestamp and FB's).
pub const GR_AT: usize = 8 + ENGINE_SAMPLE_SIZE;
/// In an engine sample: `util`, `procId`, `subProcessID`.
pub const UTIL_AT: usize = 0;
/// `procId`.
pub const PROC_ID_AT: usize = 8;
/// `subProcessID` (0 outside a vGPU guest).
pub const SUBPROCESS_ID_AT: usize = 12;

/// Bytes of one sample with `engines` engine samples (4 in 535, 6 in 550).
pub const fn sample_size(engines: usize) -> usize {
    8 + engines * ENGINE_SAMPLE_SIZE
}

/// Bytes of the parameters whose samples are `sample` bytes each.
pub const fn params_size(sample: usize) -> usize {
    SAMPLES_AT + SAMPLE_COUNT * sample
}

/// The sample size of parameters of `size` bytes (a family's size of [`CMD`]), if it is one.
pub fn sample_size_of(size: usize) -> Option<usize> {
    let samples = size.checked_sub(SAMPLES_AT)?;
    (samples % SAMPLE_COUNT == 0 && samples / SAMPLE_COUNT >= GR_AT + ENGINE_SAMPLE_SIZE)
        .then_some(samples / SAMPLE_COUNT)
}

/// What fakegpu and nvsim use of one sample: when, and the GR engine's part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrSample {
    /// When it was taken, in ns of the GPU's timer (0: the entry was never written).
    pub timestamp_ns: u64,
    /// How busy GR was over the period before it, in pct*100.
    pub util: u32,
    /// The process active on GR when it was taken ([`PID_INVALID`]: none).
    pub pid: u32,
}

/// Entry `index` of the ring in `params`, whose samples are `sample` bytes each.
pub fn read_sample(params: &[u8], sample: usize, index: usize) -> Option<GrSample> {
    let at = SAMPLES_AT.checked_add(index.checked_mul(sample)?)?;
    let s = params.get(at..at.checked_add(sample)?)?;
    let gr = s.get(GR_AT..)?;
    Some(GrSample {
        timestamp_ns: read_pod(s)?,
        util: read_pod(gr.get(UTIL_AT..)?)?,
        pid: read_pod(gr.get(PROC_ID_AT..)?)?,
    })
}

/// Writes the header and the ring `ring` (oldest first from `tracker`) as the driver
/// answers, every engine but GR idle with no process; false if `params` is too short.
pub fn write_samples(params: &mut [u8], sample: usize, ring: &[GrSample], tracker: usize) -> bool {
    let Some(len) = ring.len().checked_mul(sample).map(|n| n + SAMPLES_AT) else {
        return false;
    };
    let Some(out) = params.get_mut(..len) else {
        return false;
    };
    out.fill(0);
    out[TYPE_AT] = SAMPLE_TYPE_PERFMON_UTIL;
    write_pod(&mut out[BUF_SIZE_AT..], &((ring.len() * sample) as u32));
    write_pod(&mut out[COUNT_AT..], &(ring.len() as u32));
    write_pod(&mut out[TRACKER_AT..], &(tracker as u32));
    for (i, s) in ring.iter().enumerate() {
        let at = SAMPLES_AT + i * sample;
        let Some(entry) = out.get_mut(at..at + sample) else {
            return false;
        };
        write_pod(entry, &s.timestamp_ns);
        // Each engine sample: util 0, no process, except GR's (and none at all in an entry
        // never written).
        let mut e = 8;
        while e + ENGINE_SAMPLE_SIZE <= sample {
            let engine = &mut entry[e..e + ENGINE_SAMPLE_SIZE];
            let (util, pid) = if e == GR_AT {
                (s.util, s.pid)
            } else {
                (0, PID_INVALID)
            };
            if s.timestamp_ns != 0 {
                write_pod(&mut engine[UTIL_AT..], &util);
                write_pod(&mut engine[PROC_ID_AT..], &pid);
                let sub = if pid == PID_INVALID { PID_INVALID } else { 0 };
                write_pod(&mut engine[SUBPROCESS_ID_AT..], &sub);
            }
            e += ENGINE_SAMPLE_SIZE;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_headers() {
        // 535: fb, gr, nvenc, nvdec; 550 adds nvjpg and nvofa.
        assert_eq!(params_size(sample_size(4)), 34_000);
        assert_eq!(params_size(sample_size(6)), 50_704);
        assert_eq!(sample_size_of(34_000), Some(472));
        assert_eq!(sample_size_of(50_704), Some(704));
        assert_eq!(sample_size_of(33_999), None);
        assert_eq!(sample_size_of(16), None);
    }

    #[test]
    fn samples_round_trip() {
        for engines in [4, 6] {
            let sample = sample_size(engines);
            let mut params = vec![0xaau8; params_size(sample)];
            let mut ring = [GrSample::default(); SAMPLE_COUNT];
            ring[3] = GrSample {
                timestamp_ns: 7,
                util: 5000,
                pid: 42,
            };
            ring[4] = GrSample {
                timestamp_ns: 9,
                util: 0,
                pid: PID_INVALID,
            };
            assert!(write_samples(&mut params, sample, &ring, 5));
            assert_eq!(params[TYPE_AT], SAMPLE_TYPE_PERFMON_UTIL);
            assert_eq!(read_pod::<u32>(&params[TRACKER_AT..]), Some(5));
            assert_eq!(read_pod::<u32>(&params[COUNT_AT..]), Some(72));
            for (i, want) in ring.iter().enumerate() {
                assert_eq!(read_sample(&params, sample, i), Some(*want));
            }
            assert_eq!(read_sample(&params, sample, SAMPLE_COUNT), None);
            // FB's process of a written entry is "none".
            let fb_pid = SAMPLES_AT + 3 * sample + 8 + PROC_ID_AT;
            assert_eq!(read_pod::<u32>(&params[fb_pid..]), Some(PID_INVALID));
        }
    }

    #[test]
    fn short_params_are_refused() {
        let mut params = vec![0u8; 100];
        assert!(!write_samples(
            &mut params,
            472,
            &[GrSample::default(); 72],
            0
        ));
        assert_eq!(read_sample(&params, 472, 0), None);
    }
}
