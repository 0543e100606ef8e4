//! Sizes and per-GPU values as operators write them and as `fakegpu status` shows them.

use policy::ledger;

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A limit for display: `max` when unlimited.
pub fn human_limit(limit: Option<u64>) -> String {
    limit.map_or_else(|| "max".into(), human)
}

/// Turns a per-GPU value as the command line takes it (`8G`, `max`, or `gpu0=8G,gpu1=4G`)
/// into what fakegpu's per-GPU files take (`8G`, or `gpu0 8G gpu1 4G`), checking each value
/// with `check` (a size or a count) so a bad one is reported here, by name.
pub fn per_gpu_spec(
    text: &str,
    check: fn(&str) -> Result<u64, &'static str>,
) -> Result<String, String> {
    per_gpu_map(text, |v| check(v).map(|_| v.to_string()), " ")
}

/// The same with each value turned into the file's form by `convert`, the `gpuN VALUE`
/// pairs joined by `join`.
pub fn per_gpu_map(
    text: &str,
    convert: impl Fn(&str) -> Result<String, &'static str>,
    join: &str,
) -> Result<String, String> {
    let text = text.trim();
    if !text.contains('=') {
        return convert(text).map_err(|e| format!("{text:?}: {e}"));
    }
    let mut out = Vec::new();
    for pair in text.split(',') {
        let (gpu, value) = pair
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("{pair:?}: expected gpuN=VALUE"))?;
        let minor = gpu
            .strip_prefix("gpu")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{gpu:?}: expected gpuN, N the GPU's minor"))?;
        let v = convert(value).map_err(|e| format!("{value:?}: {e}"))?;
        out.push(format!("gpu{minor} {v}"));
    }
    Ok(out.join(join))
}

/// A size as `memory.max` takes it (`64M`, `8G`, `max`).
pub fn check_size(text: &str) -> Result<u64, &'static str> {
    ledger::parse_size(text)
}

/// A count as `channels.max` takes it (`16`, `max`).
pub fn check_count(text: &str) -> Result<u64, &'static str> {
    ledger::parse_count(text)
}

/// A share of a GPU in percent, 1 to 100 (`30`, `30%`), or `max` (no cap; also HAMi's
/// `0` and `100`).
pub fn check_percent(text: &str) -> Result<u64, &'static str> {
    let t = text.trim();
    if t == "max" {
        return Ok(ledger::UNLIMITED);
    }
    let digits = t.strip_suffix('%').unwrap_or(t);
    match digits.parse::<u64>() {
        Ok(0 | 100) if digits.bytes().all(|b| b.is_ascii_digit()) => Ok(ledger::UNLIMITED),
        Ok(n) if n < 100 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err("expected a percent of the GPU such as 30% (1-100), or max"),
    }
}

/// A compute weight, 1 to 10000 (as `cpu.weight`).
pub fn check_weight(text: &str) -> Result<u64, &'static str> {
    match text.trim().parse::<u64>() {
        Ok(w) if (1..=10_000).contains(&w) && text.trim().bytes().all(|b| b.is_ascii_digit()) => {
            Ok(w)
        }
        _ => Err("expected a weight from 1 to 10000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(2 << 30), "2.0 GiB");
        assert_eq!(human_limit(None), "max");
    }

    #[test]
    fn per_gpu_specs() {
        assert_eq!(per_gpu_spec("8G", check_size).unwrap(), "8G");
        assert_eq!(
            per_gpu_spec("gpu0=8G, gpu1=max", check_size).unwrap(),
            "gpu0 8G gpu1 max"
        );
        assert!(per_gpu_spec("8X", check_size).is_err());
        assert!(per_gpu_spec("gpu=8G", check_size).is_err());
        assert!(per_gpu_spec("gpu0=-1", check_count).is_err());
        assert!(per_gpu_spec("0=1", check_count).is_err());
    }
}
