//! What blankroot knows about a pool (datasets, their origins and snapshots) and what each step
//! does to it. The planner simulates its own steps on this model, so the job after a recovery is
//! planned on the pool as the recovery leaves it, and the unit tests can crash a plan after any
//! step and check that the next plan finishes the job.

/// Names to values, in name order.
pub type Map<V> = std::collections::BTreeMap<String, V>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Filesystem,
    Volume,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub name: String,
    /// `zfs hold` references (`userrefs`): a held snapshot cannot be destroyed.
    pub held: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ds {
    pub kind: Kind,
    /// `pool/ds@snap` this dataset was cloned from.
    pub origin: Option<String>,
    pub mounted: bool,
    /// Effective values (`legacy`, `none`, a path; `on`, `off`, `noauto`).
    pub mountpoint: String,
    pub canmount: String,
    /// Properties set on this dataset itself (source local or received), where known.
    pub local: Map<String>,
    /// Snapshots, oldest first; `None` when they were not listed (no step touches them).
    pub snapshots: Option<Vec<Snap>>,
    /// The value of [`ARCHIVE_PROPERTY`] (set here or inherited).
    pub mark: Option<String>,
}

/// The user property blankroot sets on a root before it renames it into the archive parent:
/// the archive's name. Only datasets whose mark is their own name are pruned.
pub const ARCHIVE_PROPERTY: &str = "org.blankroot:archive";

impl Ds {
    pub fn filesystem() -> Ds {
        Ds {
            kind: Kind::Filesystem,
            origin: None,
            mounted: false,
            mountpoint: "none".into(),
            canmount: "on".into(),
            local: Map::new(),
            snapshots: Some(Vec::new()),
            mark: None,
        }
    }

    pub fn snaps(&self) -> &[Snap] {
        self.snapshots.as_deref().unwrap_or(&[])
    }

    pub fn has_snapshot(&self, name: &str) -> bool {
        self.snaps().iter().any(|s| s.name == name)
    }
}

/// The pool's datasets by full name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub datasets: Map<Ds>,
}

fn within(name: &str, top: &str) -> bool {
    name == top || (name.starts_with(top) && name.as_bytes().get(top.len()) == Some(&b'/'))
}

/// The dataset part of `ds@snap`.
pub fn dataset_of(snapshot: &str) -> &str {
    snapshot.split_once('@').map_or(snapshot, |(d, _)| d)
}

/// A step's effect, as far as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Create {
        name: String,
        props: Vec<(String, String)>,
    },
    Clone {
        snapshot: String,
        name: String,
        props: Vec<(String, String)>,
    },
    Rename {
        from: String,
        to: String,
    },
    Promote {
        name: String,
    },
    Destroy {
        name: String,
        recursive: bool,
    },
    SetProperty {
        name: String,
        property: String,
        value: String,
    },
    Rollback {
        snapshot: String,
    },
}

impl Pool {
    pub fn get(&self, name: &str) -> Option<&Ds> {
        self.datasets.get(name)
    }

    /// Datasets directly below `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a String, &'a Ds)> {
        self.datasets.iter().filter(move |(n, _)| {
            n.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.contains('/'))
        })
    }

    /// Datasets strictly below `name`.
    pub fn descendants<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a String, &'a Ds)> {
        self.datasets
            .iter()
            .filter(move |(n, _)| n.as_str() != name && within(n, name))
    }

    /// `top` and the datasets below it.
    fn names_within(&self, top: &str) -> Vec<String> {
        let mut names = Vec::new();
        for n in self.datasets.keys() {
            if within(n, top) {
                names.push(n.clone());
            }
        }
        names
    }

    /// Datasets outside `name`'s subtree cloned from a snapshot inside it, with that origin.
    pub fn dependents(&self, name: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (n, d) in self.datasets.iter() {
            if let Some(origin) = &d.origin {
                if !within(n, name) && within(dataset_of(origin), name) {
                    found.push((n.clone(), origin.clone()));
                }
            }
        }
        found
    }

    /// Clones of one snapshot (`ds@snap`).
    pub fn clones_of(&self, snapshot: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (n, d) in self.datasets.iter() {
            if d.origin.as_deref() == Some(snapshot) {
                found.push(n.clone());
            }
        }
        found
    }

    /// The mountpoint a dataset at `name` inherits when it sets none itself.
    fn inherited_mountpoint(&self, name: &str) -> String {
        match name.rsplit_once('/') {
            None => format!("/{name}"),
            Some((parent, base)) => match self.get(parent).map(|p| p.mountpoint.as_str()) {
                Some(mp @ ("legacy" | "none")) => mp.to_string(),
                Some("/") => format!("/{base}"),
                Some(mp) => format!("{mp}/{base}"),
                None => "none".to_string(),
            },
        }
    }

    fn refresh_mountpoints(&mut self, top: &str) {
        let names = self.names_within(top);
        for n in names {
            if !self.datasets[&n].local.contains_key("mountpoint") {
                let mp = self.inherited_mountpoint(&n);
                self.datasets.get_mut(&n).expect("listed").mountpoint = mp;
            }
        }
    }

    fn new_dataset(&self, name: &str, props: &[(String, String)], origin: Option<String>) -> Ds {
        let local: Map<String> = props.iter().cloned().collect();
        Ds {
            kind: Kind::Filesystem,
            origin,
            mounted: false,
            mountpoint: local
                .get("mountpoint")
                .cloned()
                .unwrap_or_else(|| self.inherited_mountpoint(name)),
            canmount: local
                .get("canmount")
                .cloned()
                .unwrap_or_else(|| "on".into()),
            local,
            snapshots: Some(Vec::new()),
            mark: None,
        }
    }

    /// Applies a step the way ZFS would, or says why ZFS would refuse it.
    pub fn apply(&mut self, effect: &Effect) -> Result<(), String> {
        let parent_exists = |p: &Pool, name: &str| {
            name.rsplit_once('/')
                .is_none_or(|(parent, _)| p.get(parent).is_some())
        };
        match effect {
            Effect::Create { name, props } => {
                if self.get(name).is_some() {
                    return Err(format!("{name} exists"));
                }
                if !parent_exists(self, name) {
                    return Err(format!("the parent of {name} does not exist"));
                }
                let ds = self.new_dataset(name, props, None);
                self.datasets.insert(name.clone(), ds);
            }
            Effect::Clone {
                snapshot,
                name,
                props,
            } => {
                let (src, snap) = snapshot
                    .split_once('@')
                    .ok_or_else(|| format!("{snapshot} is not a snapshot"))?;
                if !self.get(src).is_some_and(|d| d.has_snapshot(snap)) {
                    return Err(format!("{snapshot} does not exist"));
                }
                if self.get(name).is_some() {
                    return Err(format!("{name} exists"));
                }
                if !parent_exists(self, name) {
                    return Err(format!("the parent of {name} does not exist"));
                }
                let ds = self.new_dataset(name, props, Some(snapshot.clone()));
                self.datasets.insert(name.clone(), ds);
            }
            Effect::Rename { from, to } => {
                if self.get(from).is_none() {
                    return Err(format!("{from} does not exist"));
                }
                if self.get(to).is_some() {
                    return Err(format!("{to} exists"));
                }
                if within(to, from) {
                    return Err(format!("{to} lies inside {from}"));
                }
                if !parent_exists(self, to) {
                    return Err(format!("the parent of {to} does not exist"));
                }
                if dataset_of(from).split('/').next() != to.split('/').next() {
                    return Err("a rename cannot leave the pool".into());
                }
                let moved = self.names_within(from);
                for old in moved {
                    let ds = self.datasets.remove(&old).expect("listed");
                    let new = format!("{to}{}", &old[from.len()..]);
                    self.datasets.insert(new, ds);
                }
                for ds in self.datasets.values_mut() {
                    if let Some(origin) = &ds.origin {
                        if within(dataset_of(origin), from) {
                            ds.origin = Some(format!("{to}{}", &origin[from.len()..]));
                        }
                    }
                }
                self.refresh_mountpoints(to);
            }
            Effect::Promote { name } => {
                let origin = self
                    .get(name)
                    .ok_or_else(|| format!("{name} does not exist"))?
                    .origin
                    .clone()
                    .ok_or_else(|| format!("{name} is not a clone"))?;
                let (src, snap) = origin.split_once('@').expect("origins are snapshots");
                let src_ds = self
                    .get(src)
                    .ok_or_else(|| format!("the origin {src} does not exist"))?;
                let snaps = src_ds
                    .snapshots
                    .clone()
                    .ok_or_else(|| format!("the snapshots of {src} were not listed"))?;
                let cut = snaps
                    .iter()
                    .position(|s| s.name == snap)
                    .ok_or_else(|| format!("{origin} does not exist"))?;
                let (moved, kept) = snaps.split_at(cut + 1);
                let own = self.datasets[name].snaps().to_vec();
                if let Some(clash) = moved.iter().find(|m| own.iter().any(|o| o.name == m.name)) {
                    return Err(format!(
                        "{name} already has a snapshot named {} (promoting it would take {src}@{} too)",
                        clash.name, clash.name
                    ));
                }
                let src_origin = src_ds.origin.clone();
                let moved_names: Vec<String> = moved.iter().map(|s| s.name.clone()).collect();
                for (n, ds) in self.datasets.iter_mut() {
                    if n == name || n == src {
                        continue;
                    }
                    if let Some((d, s)) = ds.origin.as_deref().and_then(|o| o.split_once('@')) {
                        if d == src && moved_names.iter().any(|m| m == s) {
                            ds.origin = Some(format!("{name}@{s}"));
                        }
                    }
                }
                let src_mut = self.datasets.get_mut(src).expect("exists");
                src_mut.snapshots = Some(kept.to_vec());
                src_mut.origin = Some(format!("{name}@{snap}"));
                let me = self.datasets.get_mut(name).expect("exists");
                let mut all = moved.to_vec();
                all.extend(own);
                me.snapshots = Some(all);
                me.origin = src_origin;
            }
            Effect::Destroy { name, recursive } => {
                let ds = self
                    .get(name)
                    .ok_or_else(|| format!("{name} does not exist"))?;
                if !recursive && (!ds.snaps().is_empty() || self.descendants(name).next().is_some())
                {
                    return Err(format!("{name} has snapshots or children"));
                }
                if let Some((clone, _)) = self.dependents(name).first() {
                    return Err(format!("{clone} is a clone of a snapshot of {name}"));
                }
                let doomed = self.names_within(name);
                for n in doomed {
                    self.datasets.remove(&n);
                }
            }
            Effect::SetProperty {
                name,
                property,
                value,
            } => {
                let ds = self
                    .datasets
                    .get_mut(name)
                    .ok_or_else(|| format!("{name} does not exist"))?;
                if property == ARCHIVE_PROPERTY {
                    ds.mark = Some(value.clone());
                }
                ds.local.insert(property.clone(), value.clone());
            }
            Effect::Rollback { snapshot } => {
                let (ds, snap) = snapshot
                    .split_once('@')
                    .ok_or_else(|| format!("{snapshot} is not a snapshot"))?;
                let snaps = self
                    .get(ds)
                    .ok_or_else(|| format!("{ds} does not exist"))?
                    .snaps()
                    .to_vec();
                let cut = snaps
                    .iter()
                    .position(|s| s.name == snap)
                    .ok_or_else(|| format!("{snapshot} does not exist"))?;
                for newer in &snaps[cut + 1..] {
                    let full = format!("{ds}@{}", newer.name);
                    if let Some(clone) = self.clones_of(&full).first() {
                        return Err(format!("{clone} is a clone of {full}"));
                    }
                }
                self.datasets.get_mut(ds).expect("exists").snapshots = Some(snaps[..=cut].to_vec());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snaps(names: &[&str]) -> Option<Vec<Snap>> {
        Some(
            names
                .iter()
                .map(|n| Snap {
                    name: n.to_string(),
                    held: false,
                })
                .collect(),
        )
    }

    #[test]
    fn clone_rename_promote_moves_the_blank_like_zfs() {
        let mut p = Pool::default();
        p.datasets.insert("p".into(), Ds::filesystem());
        p.datasets.insert(
            "p/root".into(),
            Ds {
                snapshots: snaps(&["install", "blank", "later"]),
                ..Ds::filesystem()
            },
        );
        p.datasets.insert("p/old".into(), Ds::filesystem());
        let steps = [
            Effect::Clone {
                snapshot: "p/root@blank".into(),
                name: "p/new".into(),
                props: vec![],
            },
            Effect::Rename {
                from: "p/root".into(),
                to: "p/old/a1".into(),
            },
            Effect::Rename {
                from: "p/new".into(),
                to: "p/root".into(),
            },
            Effect::Promote {
                name: "p/root".into(),
            },
        ];
        for s in &steps {
            p.apply(s).unwrap();
        }
        let root = p.get("p/root").unwrap();
        assert_eq!(root.origin, None);
        let names: Vec<&str> = root.snaps().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["install", "blank"]);
        let old = p.get("p/old/a1").unwrap();
        assert_eq!(old.origin.as_deref(), Some("p/root@blank"));
        assert_eq!(old.snaps().len(), 1);
        assert_eq!(
            p.dependents("p/root"),
            vec![("p/old/a1".to_string(), "p/root@blank".to_string())]
        );
        assert!(p
            .apply(&Effect::Destroy {
                name: "p/root".into(),
                recursive: true
            })
            .is_err());
        p.apply(&Effect::Destroy {
            name: "p/old/a1".into(),
            recursive: true,
        })
        .unwrap();
        assert!(p.get("p/old/a1").is_none());
    }

    #[test]
    fn rollback_refuses_when_a_newer_snapshot_has_a_clone() {
        let mut p = Pool::default();
        p.datasets.insert("p".into(), Ds::filesystem());
        p.datasets.insert(
            "p/root".into(),
            Ds {
                snapshots: snaps(&["blank", "later"]),
                ..Ds::filesystem()
            },
        );
        p.datasets.insert(
            "p/c".into(),
            Ds {
                origin: Some("p/root@later".into()),
                ..Ds::filesystem()
            },
        );
        let rb = Effect::Rollback {
            snapshot: "p/root@blank".into(),
        };
        assert!(p.apply(&rb).is_err());
        p.datasets.remove("p/c");
        p.apply(&rb).unwrap();
        assert_eq!(p.get("p/root").unwrap().snaps().len(), 1);
    }

    #[test]
    fn renamed_datasets_inherit_their_new_parents_mountpoint() {
        let mut p = Pool::default();
        p.datasets.insert(
            "p".into(),
            Ds {
                mountpoint: "/p".into(),
                ..Ds::filesystem()
            },
        );
        p.datasets.insert(
            "p/old".into(),
            Ds {
                mountpoint: "none".into(),
                local: [("mountpoint".to_string(), "none".to_string())].into(),
                ..Ds::filesystem()
            },
        );
        p.datasets.insert(
            "p/root".into(),
            Ds {
                mountpoint: "/p/root".into(),
                ..Ds::filesystem()
            },
        );
        p.apply(&Effect::Rename {
            from: "p/root".into(),
            to: "p/old/x".into(),
        })
        .unwrap();
        assert_eq!(p.get("p/old/x").unwrap().mountpoint, "none");
    }
}
