//! The resource graph: dependencies, creation order (topological), deletion order
//! (reverse), waves of independent work and the critical path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::model::{Kind, Resource};

/// Why a set of resources is not a valid graph.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    /// A `${id}` names no resource of the stack.
    #[error("resource `{from}` refers to `{to}`, which the stack does not define")]
    UnknownReference {
        /// The resource holding the reference.
        from: String,
        /// The logical id it names.
        to: String,
    },
    /// Two resources share this logical id.
    #[error("resource id `{0}` is defined twice")]
    Duplicate(String),
    /// No creation order exists: the ids (comma-separated) on a dependency cycle or
    /// behind one.
    #[error("dependency cycle through: {0}")]
    Cycle(String),
}

/// Resources plus their dependency edges (`deps[id]` must exist before `id`).
#[derive(Debug, Clone)]
pub struct Graph {
    resources: Vec<Resource>,
    position: HashMap<String, usize>,
    deps: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// The graph of a stack's resources: every reference must name one of them, ids must be
    /// unique and dependencies acyclic.
    pub fn new(resources: Vec<Resource>) -> Result<Self, GraphError> {
        let mut position = HashMap::new();
        for (index, resource) in resources.iter().enumerate() {
            if position.insert(resource.id.clone(), index).is_some() {
                return Err(GraphError::Duplicate(resource.id.clone()));
            }
        }
        let mut deps = BTreeMap::new();
        for resource in &resources {
            let mut set = BTreeSet::new();
            for dep in resource.dependencies() {
                if !position.contains_key(&dep) {
                    return Err(GraphError::UnknownReference {
                        from: resource.id.clone(),
                        to: dep,
                    });
                }
                set.insert(dep);
            }
            deps.insert(resource.id.clone(), set);
        }
        let graph = Graph {
            resources,
            position,
            deps,
        };
        graph.topological()?;
        Ok(graph)
    }

    /// A graph over resources whose references may point outside it (observed state):
    /// dangling references are dropped rather than rejected.
    pub fn lenient(resources: Vec<Resource>) -> Self {
        let ids: BTreeSet<String> = resources.iter().map(|r| r.id.clone()).collect();
        let position = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let deps = resources
            .iter()
            .map(|r| {
                let set = r
                    .dependencies()
                    .into_iter()
                    .filter(|d| ids.contains(d) && d != &r.id)
                    .collect();
                (r.id.clone(), set)
            })
            .collect();
        Graph {
            resources,
            position,
            deps,
        }
    }

    /// The resources, in the order given.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resource with this logical id.
    pub fn get(&self, id: &str) -> Option<&Resource> {
        self.position.get(id).map(|&i| &self.resources[i])
    }

    /// Logical ids `id` depends on (references and `after`), sorted; none for an
    /// unknown id.
    pub fn dependencies(&self, id: &str) -> impl Iterator<Item = &String> {
        self.deps.get(id).into_iter().flatten()
    }

    /// Ids that depend on `id`.
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        self.deps
            .iter()
            .filter(|(_, deps)| deps.contains(id))
            .map(|(dependent, _)| dependent.as_str())
            .collect()
    }

    /// Creation order: dependencies first, declaration order among equals (Kahn).
    pub fn create_order(&self) -> Vec<&str> {
        self.topological()
            .unwrap_or_else(|_| self.resources.iter().map(|r| r.id.as_str()).collect())
    }

    /// Deletion order: dependents first.
    pub fn delete_order(&self) -> Vec<&str> {
        let mut order = self.create_order();
        order.reverse();
        order
    }

    fn topological(&self) -> Result<Vec<&str>, GraphError> {
        let mut remaining: BTreeMap<&str, usize> = self
            .deps
            .iter()
            .map(|(id, deps)| (id.as_str(), deps.len()))
            .collect();
        let mut order = Vec::with_capacity(self.resources.len());
        let mut ready: BTreeSet<(usize, &str)> = remaining
            .iter()
            .filter(|(_, &n)| n == 0)
            .map(|(&id, _)| (self.position[id], id))
            .collect();
        while let Some(next) = ready.pop_first() {
            let (_, id) = next;
            remaining.remove(id);
            order.push(id);
            for dependent in self.dependents(id) {
                if let Some(count) = remaining.get_mut(dependent) {
                    *count -= 1;
                    if *count == 0 {
                        ready.insert((self.position[dependent], dependent));
                    }
                }
            }
        }
        if remaining.is_empty() {
            Ok(order)
        } else {
            let stuck: Vec<&str> = remaining.keys().copied().collect();
            Err(GraphError::Cycle(stuck.join(", ")))
        }
    }

    /// Waves of creation: every resource in wave n depends only on earlier waves, so a
    /// wave's members can be created concurrently.
    pub fn waves(&self) -> Vec<Vec<&str>> {
        let mut depth: HashMap<&str, usize> = HashMap::new();
        for id in self.create_order() {
            let d = self
                .dependencies(id)
                .map(|dep| depth[dep.as_str()] + 1)
                .max()
                .unwrap_or(0);
            depth.insert(id, d);
        }
        let mut waves: Vec<Vec<&str>> = Vec::new();
        for id in self.create_order() {
            let d = depth[id];
            if waves.len() <= d {
                waves.resize_with(d + 1, Vec::new);
            }
            waves[d].push(id);
        }
        waves
    }

    /// The longest chain of dependent creations, weighted by `duration`: the least time
    /// an `up` from nothing can take however much runs in parallel.
    pub fn critical_path(&self, duration: impl Fn(Kind) -> Duration) -> (Vec<&str>, Duration) {
        let mut finish: HashMap<&str, (Duration, Option<&str>)> = HashMap::new();
        for id in self.create_order() {
            let own = duration(self.get(id).map(Resource::kind).unwrap_or(Kind::Vpc));
            let (start, via) = self
                .dependencies(id)
                .map(|dep| (finish[dep.as_str()].0, Some(dep.as_str())))
                .max_by_key(|(t, _)| *t)
                .unwrap_or((Duration::ZERO, None));
            finish.insert(id, (start + own, via));
        }
        let Some((&last, &(total, _))) = finish.iter().max_by_key(|(id, (t, _))| (*t, **id)) else {
            return (Vec::new(), Duration::ZERO);
        };
        let mut path = vec![last];
        let mut cursor = last;
        while let Some(prev) = finish[cursor].1 {
            path.push(prev);
            cursor = prev;
        }
        path.reverse();
        (path, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClusterSpec, LogGroupSpec, Spec, VpcSpec};

    fn vpc(id: &str) -> Resource {
        Resource {
            id: id.into(),
            spec: Spec::Vpc(VpcSpec {
                cidr: "10.0.0.0/16".into(),
                dns_support: true,
                dns_hostnames: true,
            }),
            after: vec![],
        }
    }

    fn cluster_after(id: &str, deps: &[&str]) -> Resource {
        Resource {
            id: id.into(),
            spec: Spec::Cluster(ClusterSpec {
                container_insights: true,
            }),
            after: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn unknown_reference_is_rejected() {
        let err = Graph::new(vec![cluster_after("c", &["nope"])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::UnknownReference {
                from: "c".into(),
                to: "nope".into()
            }
        );
    }

    #[test]
    fn cycles_are_rejected() {
        let err =
            Graph::new(vec![cluster_after("a", &["b"]), cluster_after("b", &["a"])]).unwrap_err();
        assert!(matches!(err, GraphError::Cycle(_)));
    }

    #[test]
    fn order_waves_and_critical_path() {
        let graph = Graph::new(vec![
            cluster_after("late", &["mid"]),
            cluster_after("mid", &["root"]),
            vpc("root"),
            Resource {
                id: "logs".into(),
                spec: Spec::LogGroup(LogGroupSpec { retention_days: 1 }),
                after: vec![],
            },
        ])
        .unwrap();
        // Declaration order breaks ties, so a chain runs to its end before `logs`.
        assert_eq!(graph.create_order(), vec!["root", "mid", "late", "logs"]);
        assert_eq!(graph.delete_order(), vec!["logs", "late", "mid", "root"]);
        assert_eq!(
            graph.waves(),
            vec![vec!["root", "logs"], vec!["mid"], vec!["late"]]
        );
        let (path, total) = graph.critical_path(|_| Duration::from_secs(1));
        assert_eq!(path, vec!["root", "mid", "late"]);
        assert_eq!(total, Duration::from_secs(3));
    }
}
