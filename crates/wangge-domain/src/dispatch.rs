//! Dispatch rules: (category, region, the component's responsible unit) → handling unit.
//! The most specific matching rule wins; equally specific rules naming different units leave the
//! choice to the dispatcher.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRule {
    /// A 5-digit subclass, a 2-digit class, or None for any category.
    pub category: Option<String>,
    /// A region code: the rule covers that region and everything below it.
    pub region: Option<String>,
    /// The responsible unit of the component the case is about.
    pub component_unit: Option<String>,
    pub unit: String,
    /// Dispatch without a dispatcher when this rule decides alone.
    pub auto_dispatch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    None,
    One {
        unit: String,
        auto_dispatch: bool,
    },
    /// Several units tie; the dispatcher chooses.
    Ambiguous {
        units: Vec<String>,
    },
}

impl Suggestion {
    /// The suggested unit, when there is exactly one.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Suggestion::One { unit, .. } => Some(unit),
            _ => None,
        }
    }
}

impl DispatchRule {
    fn matches(&self, category: &str, grid_code: &str, component_unit: Option<&str>) -> bool {
        self.category
            .as_deref()
            .is_none_or(|c| category.starts_with(c))
            && self
                .region
                .as_deref()
                .is_none_or(|r| grid_code.starts_with(r))
            && self
                .component_unit
                .as_deref()
                .is_none_or(|u| component_unit == Some(u))
    }

    /// Ordered so that a larger value is more specific: a named component's unit decides first
    /// (the unit responsible for the thing), then the category's precision, then the region's depth.
    fn specificity(&self) -> (bool, usize, usize) {
        (
            self.component_unit.is_some(),
            self.category.as_deref().map_or(0, str::len),
            self.region.as_deref().map_or(0, str::len),
        )
    }
}

pub fn suggest(
    rules: &[DispatchRule],
    category: &str,
    grid_code: &str,
    component_unit: Option<&str>,
) -> Suggestion {
    let matching: Vec<&DispatchRule> = rules
        .iter()
        .filter(|r| r.matches(category, grid_code, component_unit))
        .collect();
    let Some(best) = matching.iter().map(|r| r.specificity()).max() else {
        return Suggestion::None;
    };
    let top: Vec<&&DispatchRule> = matching
        .iter()
        .filter(|r| r.specificity() == best)
        .collect();
    let mut units: Vec<String> = top.iter().map(|r| r.unit.clone()).collect();
    units.sort();
    units.dedup();
    match units.as_slice() {
        [unit] => Suggestion::One {
            unit: unit.clone(),
            auto_dispatch: top.iter().all(|r| r.auto_dispatch),
        },
        _ => Suggestion::Ambiguous { units },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        category: Option<&str>,
        region: Option<&str>,
        component: Option<&str>,
        unit: &str,
    ) -> DispatchRule {
        DispatchRule {
            category: category.map(Into::into),
            region: region.map(Into::into),
            component_unit: component.map(Into::into),
            unit: unit.into(),
            auto_dispatch: true,
        }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = vec![
            rule(Some("06"), None, None, "huanwei"),
            rule(Some("06001"), None, None, "chengguan"),
            rule(Some("06001"), Some("110105001"), None, "jiedao"),
            rule(None, None, Some("gongdian"), "gongdian"),
        ];
        let one = |unit: &str| Suggestion::One {
            unit: unit.into(),
            auto_dispatch: true,
        };
        assert_eq!(
            suggest(&rules, "06002", "110105002001001", None),
            one("huanwei")
        );
        assert_eq!(
            suggest(&rules, "06001", "110105002001001", None),
            one("chengguan")
        );
        assert_eq!(
            suggest(&rules, "06001", "110105001001001", None),
            one("jiedao")
        );
        assert_eq!(
            suggest(&rules, "06001", "110105001001001", Some("gongdian")),
            one("gongdian")
        );
        assert_eq!(
            suggest(&rules, "09001", "110105001001001", None),
            Suggestion::None
        );
    }

    #[test]
    fn ties_between_units_are_left_to_the_dispatcher() {
        let rules = vec![
            rule(Some("06"), None, None, "a"),
            rule(Some("06"), None, None, "b"),
        ];
        assert_eq!(
            suggest(&rules, "06001", "1", None),
            Suggestion::Ambiguous {
                units: vec!["a".into(), "b".into()]
            }
        );
    }
}
