//! Which model classifies an image: the one the client asked for, else the deployment's default, which may
//! be a weighted split (a canary: `efficientnet-lite0=90,efficientnet-lite2=10`). The split is decided by a
//! stable hash of the image id, so every retry and every stage agrees on the model of an image.

use serde::Serialize;

use crate::ImageId;

/// The default model of a deployment: weights (summing to 100) per model name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    weights: Vec<(String, u32)>,
}

/// How an image's model was chosen, as its record shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The client named the model.
    Requested,
    /// The deployment's default (a single model).
    Default,
    /// One side of a weighted split, by the hash of the image id.
    Canary,
}

impl Choice {
    pub fn as_str(&self) -> &'static str {
        match self {
            Choice::Requested => "requested",
            Choice::Default => "default",
            Choice::Canary => "canary",
        }
    }
}

impl Routing {
    /// `name=weight,name=weight`; every name must be one of `models`, the weights must sum to 100. An
    /// empty value sends everything to the first model.
    pub fn parse(value: &str, models: &[&str]) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            let first = models.first().ok_or("no model is deployed")?;
            return Ok(Self {
                weights: vec![((*first).to_owned(), 100)],
            });
        }
        let mut weights: Vec<(String, u32)> = Vec::new();
        for part in value.split(',') {
            let (name, weight) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} is not a whole number"))?;
            let name = name.trim();
            if !models.contains(&name) {
                return Err(format!("{name} is not a deployed model ({})", models.join(", ")));
            }
            if weights.iter().any(|(other, _)| other == name) {
                return Err(format!("{name} is listed twice"));
            }
            if weight > 0 {
                weights.push((name.to_owned(), weight));
            }
        }
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        if total != 100 {
            return Err(format!("the weights sum to {total}, not 100"));
        }
        Ok(Self { weights })
    }

    /// The default model of `id` and how it was chosen.
    pub fn choose(&self, id: &ImageId) -> (&str, Choice) {
        if let [(name, _)] = self.weights.as_slice() {
            return (name, Choice::Default);
        }
        // 0..100 from the id's own bits; v4 ids are uniformly random there, and the same id always lands
        // on the same side.
        let point = id.shard(100);
        let mut upto = 0;
        for (name, weight) in &self.weights {
            upto += weight;
            if point < upto {
                return (name, Choice::Canary);
            }
        }
        (&self.weights[self.weights.len() - 1].0, Choice::Canary)
    }

    /// The split as text, `name=weight,...`.
    pub fn describe(&self) -> String {
        self.weights
            .iter()
            .map(|(n, w)| format!("{n}={w}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn weights(&self) -> &[(String, u32)] {
        &self.weights
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: [&str; 3] = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"];

    #[test]
    fn parses_and_validates_the_split() {
        assert_eq!(
            Routing::parse("", &MODELS).unwrap().describe(),
            "efficientnet-lite0=100"
        );
        let canary = Routing::parse("efficientnet-lite0=90, efficientnet-lite2=10", &MODELS).unwrap();
        assert_eq!(canary.describe(), "efficientnet-lite0=90,efficientnet-lite2=10");
        for (bad, says) in [
            ("efficientnet-lite0=90", "sum to 90"),
            ("efficientnet-lite0=60,efficientnet-lite0=40", "twice"),
            ("resnet=100", "not a deployed model"),
            ("efficientnet-lite0", "name=weight"),
            ("efficientnet-lite0=ninety", "whole number"),
        ] {
            let err = Routing::parse(bad, &MODELS).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn one_model_is_the_default_and_a_split_is_stable_and_close_to_its_weights() {
        let single = Routing::parse("efficientnet-lite1=100", &MODELS).unwrap();
        assert_eq!(
            single.choose(&ImageId::new_random()),
            ("efficientnet-lite1", Choice::Default)
        );
        let canary = Routing::parse("efficientnet-lite0=90,efficientnet-lite2=10", &MODELS).unwrap();
        let ids: Vec<ImageId> = (0..5000).map(|_| ImageId::new_random()).collect();
        let lite2 = ids
            .iter()
            .filter(|id| canary.choose(id).0 == "efficientnet-lite2")
            .count();
        // 10% of 5000 = 500; three standard deviations of a binomial are about 64.
        assert!((436..=564).contains(&lite2), "{lite2} of 5000 went to the canary");
        for id in &ids[..100] {
            assert_eq!(canary.choose(id), canary.choose(id), "stable per id");
            assert_eq!(canary.choose(id).1, Choice::Canary);
        }
    }
}
