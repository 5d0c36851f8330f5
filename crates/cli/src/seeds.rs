//! Which seeds a command runs: parsing, scenario defaults, overrides and shards.

use std::fmt;
use std::str::FromStr;

use vtsim_scenario::{Scenario, Seeds};

/// Parses a seed written in decimal or `0x` hex (as `--seed` and `VTSIM_SEED` accept).
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let parsed = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => trimmed.replace('_', "").parse::<u64>(),
    };
    parsed.map_err(|_| {
        format!("{text:?} is not a seed; write a decimal or 0x hex number from 0 to 2^64-1")
    })
}

/// Parses a seed count (`--seeds N`, `VTSIM_SEEDS`): at least 1.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match parse_seed(text) {
        Ok(0) => Err("the seed count must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{text:?} is not a seed count; write a whole number of at least 1"
        )),
    }
}

/// How the command line or the environment overrides a scenario's `seeds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeedOverride {
    /// Use the file's `seeds`.
    #[default]
    File,
    /// Run exactly this seed (`--seed`, `VTSIM_SEED`).
    One(u64),
    /// Run seeds `0..n` (`--seeds`, `VTSIM_SEEDS`).
    Count(u64),
}

impl SeedOverride {
    /// The seeds to run for `scenario`, in run order.
    pub fn seeds_for(&self, scenario: &Scenario) -> Vec<u64> {
        self.seed_set_for(scenario).iter().collect()
    }

    /// The same seeds as a [`SeedSet`], which stays small for any count.
    pub fn seed_set_for(&self, scenario: &Scenario) -> SeedSet {
        let count = |len| SeedSet::Progression {
            first: 0,
            step: 1,
            len,
        };
        match *self {
            SeedOverride::File => match &scenario.seeds {
                Seeds::Count(n) => count(*n),
                Seeds::List(list) => SeedSet::List(list.clone()),
            },
            SeedOverride::One(seed) => SeedSet::List(vec![seed]),
            SeedOverride::Count(n) => count(n),
        }
    }
}

/// `--shard K/N`: seed `s` belongs to shard `s mod N`; K counts from 0, like a Kubernetes
/// Indexed Job's `JOB_COMPLETION_INDEX`, so N machines split a seed range without overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, in `0..count`.
    pub index: u64,
    /// How many shards split the seeds.
    pub count: u64,
}

impl Shard {
    /// True when `seed` is this shard's.
    pub fn contains(&self, seed: u64) -> bool {
        seed % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let form =
            "write K/N with 0 <= K < N, such as 0/4 (K counts from 0, like JOB_COMPLETION_INDEX)";
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a shard; {form}"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("{text:?} is not a shard: {part:?} is not a number; {form}"))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 {
            return Err(format!(
                "{text:?}: the shard count N must be at least 1; {form}"
            ));
        }
        if index >= count {
            return Err(format!(
                "{text:?}: shard index {index} is out of range for {count} shards; {form}"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds `vtsim explore` runs: `start..start + count`, keeping only `shard`'s. An arithmetic
/// progression, so a billion seeds cost no memory.
pub fn explore_seeds(start: u64, count: u64, shard: Option<Shard>) -> Result<SeedSet, String> {
    let end = start.checked_add(count).ok_or_else(|| {
        format!("--start {start} with --seeds {count} runs past the largest seed, 2^64-1")
    })?;
    let Some(shard) = shard else {
        return Ok(SeedSet::Progression {
            first: start,
            step: 1,
            len: count,
        });
    };
    // The first seed at or after `start` that is congruent to the shard index.
    // (u128: `index + count` overflows u64 for counts above 2^63.)
    let (index, count) = (u128::from(shard.index), u128::from(shard.count));
    let offset = ((index + count - u128::from(start) % count) % count) as u64;
    let len = match start.checked_add(offset) {
        Some(first) if first < end => (end - first - 1) / shard.count + 1,
        _ => 0,
    };
    Ok(SeedSet::Progression {
        first: start.wrapping_add(offset),
        step: shard.count,
        len,
    })
}

/// An ordered set of seeds that workers index into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedSet {
    /// Exactly these seeds, in this order.
    List(Vec<u64>),
    /// `first, first + step, ...`: `len` seeds.
    Progression {
        /// The first seed.
        first: u64,
        /// The distance between seeds (at least 1).
        step: u64,
        /// How many seeds.
        len: u64,
    },
}

impl SeedSet {
    /// How many seeds there are.
    pub fn len(&self) -> u64 {
        match self {
            SeedSet::List(list) => list.len() as u64,
            SeedSet::Progression { len, .. } => *len,
        }
    }

    /// True when there are none (a shard of a range smaller than the shard count).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seed at position `i < len()`.
    pub fn get(&self, i: u64) -> u64 {
        match self {
            SeedSet::List(list) => list[i as usize],
            SeedSet::Progression { first, step, .. } => first + i * step,
        }
    }

    /// The seeds in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("123"), Ok(123));
        assert_eq!(parse_seed(" 0xdead "), Ok(0xdead));
        assert_eq!(parse_seed("0XFF"), Ok(255));
        assert_eq!(parse_seed("1_000"), Ok(1000));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        for bad in ["", "-1", "0x", "12a", "0xg", "18446744073709551616"] {
            let err = parse_seed(bad).unwrap_err();
            assert!(err.contains("decimal or 0x hex"), "{bad}: {err}");
        }
    }

    #[test]
    fn counts_are_positive() {
        assert_eq!(parse_count("8"), Ok(8));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(parse_count("eight")
            .unwrap_err()
            .contains("not a seed count"));
    }

    #[test]
    fn overrides_replace_the_file_seeds() {
        let scenario = Scenario::parse("duration = \"1s\"\nseeds = [5, 0x10]\n", "s.toml").unwrap();
        assert_eq!(SeedOverride::File.seeds_for(&scenario), vec![5, 16]);
        assert_eq!(SeedOverride::One(9).seeds_for(&scenario), vec![9]);
        assert_eq!(SeedOverride::Count(3).seeds_for(&scenario), vec![0, 1, 2]);
        let counted = Scenario::parse("duration = \"1s\"\nseeds = 3\n", "s.toml").unwrap();
        assert_eq!(SeedOverride::File.seeds_for(&counted), vec![0, 1, 2]);
    }

    #[test]
    fn shards_parse_and_validate() {
        assert_eq!("1/4".parse(), Ok(Shard { index: 1, count: 4 }));
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        assert!("4/4".parse::<Shard>().unwrap_err().contains("out of range"));
        assert!("0/0".parse::<Shard>().unwrap_err().contains("at least 1"));
        assert!("1".parse::<Shard>().unwrap_err().contains("K/N"));
        assert!("a/2".parse::<Shard>().unwrap_err().contains("not a number"));
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn shards_partition_the_seed_range() {
        for (start, count, shards) in [(10, 17, 3), (0, 5, 5), (7, 2, 4), (3, 1, 2), (0, 100, 1)] {
            let all: Vec<u64> = explore_seeds(start, count, None).unwrap().iter().collect();
            assert_eq!(all, (start..start + count).collect::<Vec<_>>());
            let mut union = Vec::new();
            for index in 0..shards {
                let shard = Shard {
                    index,
                    count: shards,
                };
                let part: Vec<u64> = explore_seeds(start, count, Some(shard))
                    .unwrap()
                    .iter()
                    .collect();
                assert!(
                    part.iter().all(|s| s % shards == index),
                    "{shard}: {part:?}"
                );
                assert!(part.windows(2).all(|w| w[0] < w[1]), "{shard}: {part:?}");
                union.extend(part);
            }
            union.sort_unstable();
            assert_eq!(union, all, "start {start}, count {count}, {shards} shards");
        }
    }

    #[test]
    fn ranges_past_the_last_seed_are_refused() {
        assert!(explore_seeds(u64::MAX, 2, None)
            .unwrap_err()
            .contains("past the largest seed"));
        let last = explore_seeds(u64::MAX - 1, 1, None).unwrap();
        assert_eq!(last.iter().collect::<Vec<_>>(), vec![u64::MAX - 1]);
        let near_end = explore_seeds(u64::MAX - 3, 3, Some(Shard { index: 0, count: 2 })).unwrap();
        assert_eq!(
            near_end.iter().collect::<Vec<_>>(),
            vec![u64::MAX - 3, u64::MAX - 1]
        );
    }
}
