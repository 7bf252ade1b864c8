//! sarama's default partitioner (`NewHashPartitioner`), which Go CDK's
//! kafkapubsub uses: a message with a key goes to the partition given by
//! the FNV-1a 32-bit hash of the key, read as a signed 32-bit integer,
//! taken modulo the partition count with Go's truncating `%`, and negated
//! when negative. (This differs from the Java client's murmur2 and from
//! sarama's own "reference" variant, which masks the sign bit first.) A
//! message without a key goes to a random partition.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// FNV-1a, 32 bits.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The partition sarama's hash partitioner picks for `key` among
/// `partitions` (which must be at least 1).
pub fn hash_partition(key: &[u8], partitions: i32) -> i32 {
    let partitions = partitions.max(1);
    // Go: int32(hash) % n, then -partition when negative. `%` truncates
    // toward zero in both languages, so the remainder is in (-n, n).
    let signed = fnv1a32(key) as i32;
    let partition = signed % partitions;
    if partition < 0 {
        -partition
    } else {
        partition
    }
}

/// sarama's random partitioner, for messages without a key.
#[derive(Debug)]
pub struct RandomPartitions {
    seed: RandomState,
    counter: AtomicU64,
}

impl Default for RandomPartitions {
    fn default() -> Self {
        RandomPartitions {
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }
}

impl RandomPartitions {
    pub fn pick(&self, partitions: i32) -> i32 {
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        (hasher.finish() % partitions.max(1) as u64) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed outside this code, with Python:
    //   def fnv1a32(b):
    //       h = 0x811c9dc5
    //       for c in b: h ^= c; h = (h * 0x01000193) & 0xffffffff
    //       return h
    //   def sarama(key, n):
    //       h = fnv1a32(key.encode()); s = h - (1 << 32) if h >= 1 << 31 else h
    //       p = int(math.fmod(s, n)); return -p if p < 0 else p
    #[test]
    fn fnv1a32_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c9dc5);
        assert_eq!(fnv1a32(b"upload"), 0x3c5c055c);
        assert_eq!(fnv1a32(b"rename"), 0x81f2b7d3);
        assert_eq!(fnv1a32(b"mkdir"), 0xabe3e5d8);
    }

    #[test]
    fn partitions_as_sarama() {
        // key -> partitions for n = 1, 2, 3, 5, 7, 12
        let golden: &[(&str, [i32; 6])] = &[
            ("upload", [0, 0, 0, 4, 6, 0]),
            ("download", [0, 1, 2, 0, 1, 5]),
            ("delete", [0, 0, 1, 4, 4, 10]),
            ("rename", [0, 1, 1, 1, 2, 1]),
            ("", [0, 1, 0, 0, 2, 3]),
            ("user", [0, 0, 0, 2, 2, 6]),
            ("log", [0, 1, 0, 1, 0, 9]),
            ("mkdir", [0, 0, 1, 3, 4, 4]),
        ];
        for (key, expected) in golden {
            for (n, want) in [1, 2, 3, 5, 7, 12].iter().zip(expected) {
                assert_eq!(hash_partition(key.as_bytes(), *n), *want, "{key:?} n={n}");
            }
        }
    }

    #[test]
    fn random_partitions_stay_in_range_and_spread() {
        let random = RandomPartitions::default();
        let mut seen = [0u32; 5];
        for _ in 0..500 {
            let p = random.pick(5);
            assert!((0..5).contains(&p));
            seen[p as usize] += 1;
        }
        assert!(seen.iter().all(|count| *count > 0), "{seen:?}");
    }
}
