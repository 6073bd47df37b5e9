//! `docker-compose.yml` and the `Dockerfile`, checked without a container engine (none runs
//! on the machines CI uses): every service, dependency, port, volume, network and
//! environment variable refers to something that exists, and each node's environment is a
//! configuration xinshi accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader, yaml::Hash};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Applies YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`), which the loader leaves as keys.
fn merged(yaml: &Yaml) -> Yaml {
    match yaml {
        Yaml::Hash(hash) => {
            let mut out = Hash::new();
            let key = Yaml::String("<<".into());
            if let Some(base) = hash.get(&key) {
                let bases = match base {
                    Yaml::Array(list) => list.clone(),
                    other => vec![other.clone()],
                };
                for base in bases {
                    let Yaml::Hash(base) = merged(&base) else { panic!("<< takes mappings: {base:?}") };
                    out.extend(base);
                }
            }
            for (k, v) in hash.iter().filter(|(k, _)| **k != key) {
                out.insert(k.clone(), merged(v));
            }
            Yaml::Hash(out)
        }
        Yaml::Array(list) => Yaml::Array(list.iter().map(merged).collect()),
        other => other.clone(),
    }
}

fn text(yaml: &Yaml) -> String {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("expected a scalar: {other:?}"),
    }
}

fn keys(yaml: &Yaml) -> Vec<String> {
    yaml.as_hash().map(|h| h.keys().map(text).collect()).unwrap_or_default()
}

/// Names in a list (`[a, b]`) or the keys of a mapping (`{a: {…}}`).
fn names(yaml: &Yaml) -> Vec<String> {
    match yaml {
        Yaml::Array(list) => list.iter().map(text).collect(),
        Yaml::Hash(_) => keys(yaml),
        Yaml::BadValue | Yaml::Null => Vec::new(),
        other => panic!("expected a list or a mapping: {other:?}"),
    }
}

/// `${NAME:-default}` with the default (what a fresh checkout without environment gets).
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("closed ${") + at;
        let inner = &rest[at + 2..end];
        let (name, default) = inner.split_once(":-").unwrap_or_else(|| panic!("${{{inner}}} needs a :-default"));
        assert!(name.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{name}");
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace("$$", "$")
}

/// The `XINSHI_<SECTION>_<FIELD>` names the configuration knows.
fn config_variables() -> BTreeSet<String> {
    let table = toml::Table::try_from(xinshi::config::Config::default()).unwrap();
    let mut names = BTreeSet::new();
    for (section, fields) in &table {
        for field in fields.as_table().map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            names.insert(format!("XINSHI_{section}_{field}").to_uppercase());
        }
    }
    names
}

#[test]
fn the_compose_file_refers_only_to_what_exists() {
    let source = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let compose = merged(&YamlLoader::load_from_str(&source).unwrap().remove(0));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let exposed: BTreeSet<u16> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(|ports| ports.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    let known_variables = config_variables();
    let services = &compose["services"];
    let service_names = keys(services);
    let volumes: BTreeSet<String> = keys(&compose["volumes"]).into_iter().collect();
    let networks: BTreeSet<String> = keys(&compose["networks"]).into_iter().collect();
    let subnet = text(&compose["networks"]["xinshi"]["ipam"]["config"][0]["subnet"]);
    let subnet_prefix = subnet.rsplit_once('.').unwrap().0.to_owned() + ".";
    let mut profiles: BTreeSet<String> = BTreeSet::new();
    // Every name another service can reach a service by (its own, and its network aliases),
    // and the services that answer to it (in different profiles, which never run together).
    let mut reachable: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fdb_address = None;
    for name in &service_names {
        let service = &services[name.as_str()];
        reachable.entry(name.clone()).or_default().push(name.clone());
        for (_, net) in service["networks"].as_hash().into_iter().flatten() {
            for alias in names(&net["aliases"]) {
                reachable.entry(alias).or_default().push(name.clone());
            }
            if let Yaml::String(ip) = &net["ipv4_address"] {
                assert!(ip.starts_with(&subnet_prefix), "{name}: {ip} is not in {subnet}");
                if name == "fdb" {
                    fdb_address = Some(ip.clone());
                }
            }
        }
    }

    let mut xinshi_nodes = 0;
    for name in &service_names {
        let service = &services[name.as_str()];
        let own_profiles = names(&service["profiles"]);
        assert!(!own_profiles.is_empty(), "{name}: every service belongs to a profile (.env picks one)");
        profiles.extend(own_profiles.iter().cloned());
        // An image, or a build whose context and Dockerfile exist.
        let built = !service["build"].is_badvalue();
        if built {
            let context = root().join(text(&service["build"]["context"]));
            assert!(context.join(text(&service["build"]["dockerfile"])).is_file(), "{name}: no Dockerfile");
        } else {
            let image = text(&service["image"]);
            assert!(interpolate(&image).contains(':'), "{name}: pin the image's tag: {image}");
        }
        for dependency in names(&service["depends_on"]) {
            assert!(service_names.contains(&dependency), "{name} depends on {dependency}, which is not a service");
            let theirs = names(&services[dependency.as_str()]["profiles"]);
            assert!(own_profiles.iter().all(|p| theirs.contains(p)), "{name} needs {dependency} in its profiles");
        }
        for port in names(&service["ports"]) {
            let (host, container) =
                port.split_once(':').unwrap_or_else(|| panic!("{name}: host:container, got {port}"));
            host.parse::<u16>().unwrap_or_else(|_| panic!("{name}: host port {host}"));
            let container: u16 = container.parse().unwrap();
            if built {
                assert!(exposed.contains(&container), "{name}: port {container} is not one the image serves");
            }
        }
        for volume in names(&service["volumes"]) {
            let source = volume.split(':').next().unwrap();
            if source.starts_with('.') || source.starts_with('/') {
                assert!(root().join(source).exists(), "{name}: {source} does not exist");
            } else {
                assert!(volumes.contains(source), "{name}: volume {source} is not declared");
            }
        }
        for network in names(&service["networks"]) {
            assert!(networks.contains(&network), "{name}: network {network} is not declared");
        }

        let env: BTreeMap<String, String> = service["environment"]
            .as_hash()
            .into_iter()
            .flatten()
            .map(|(k, v)| (text(k), interpolate(&text(v))))
            .collect();
        if let Some(contents) = env.get("FDB_CLUSTER_FILE_CONTENTS") {
            let at = contents.rsplit_once('@').unwrap().1;
            assert_eq!(Some(at.rsplit_once(':').unwrap().0), fdb_address.as_deref(), "{name}: the cluster file");
        }
        if !built {
            continue;
        }
        xinshi_nodes += 1;
        for variable in env.keys().filter(|k| k.starts_with("XINSHI_")) {
            assert!(known_variables.contains(variable), "{name}: {variable} is no configuration field");
        }
        // The Dockerfile's own environment, then the service's, over the default file.
        let mut all: BTreeMap<String, String> = dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("ENV "))
            .flat_map(|l| l.split_whitespace().map(|kv| kv.split_once('=').unwrap()))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        all.extend(env.clone());
        let defaults = std::fs::read_to_string(root().join("config/xinshi.toml")).unwrap();
        let config = xinshi::config::Config::from_toml_and_env(&defaults, |k| all.get(k).cloned())
            .unwrap_or_else(|err| panic!("{name}: xinshi refuses its configuration: {err}"));
        let cluster = &config.cluster;
        assert!(!cluster.listen.is_empty() && !cluster.advertise.is_empty(), "{name}: a cluster node");
        let port: u16 = cluster.listen.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(exposed.contains(&port), "{name}: the cluster port is not exposed");
        // The one service of this node's profile that answers to `host`.
        let resolve = |host: &str| -> String {
            let found: Vec<&String> = reachable
                .get(host)
                .into_iter()
                .flatten()
                .filter(|s| names(&services[s.as_str()]["profiles"]).iter().any(|p| own_profiles.contains(p)))
                .collect();
            assert_eq!(found.len(), 1, "{name}: {host} names {found:?} in its profile");
            found[0].clone()
        };
        assert_eq!(&resolve(&cluster.advertise), name, "{name}: others cannot reach what it advertises");
        for seed in &cluster.seeds {
            let (host, seed_port) = seed.rsplit_once(':').unwrap();
            resolve(host);
            assert_eq!(seed_port.parse::<u16>().unwrap(), port, "{name}: seed {seed}");
        }
    }
    assert_eq!(xinshi_nodes, 6, "three nodes over FoundationDB, three over PostgreSQL");

    // .env chooses a profile that exists.
    let dotenv = std::fs::read_to_string(root().join(".env")).unwrap();
    let chosen = dotenv.lines().find_map(|l| l.strip_prefix("COMPOSE_PROFILES=")).expect(".env sets COMPOSE_PROFILES");
    assert!(profiles.contains(chosen), "COMPOSE_PROFILES={chosen}: no such profile in {profiles:?}");
    assert!(profiles.contains("postgres"), "the PostgreSQL profile");
    // The Dockerfile copies only what the repository has.
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let source = line.split_whitespace().nth(1).unwrap();
        assert!(root().join(source).exists(), "Dockerfile: {source} does not exist");
    }
}

#[test]
fn the_local_cluster_configurations_are_accepted() {
    let dir = root().join("cluster");
    let mut names = BTreeSet::new();
    for n in 1..=3 {
        let text = std::fs::read_to_string(dir.join(format!("node{n}.toml"))).unwrap();
        let env = |k: &str| (k == "XINSHI_STORAGE_POSTGRES_URL").then(|| "postgres://localhost/xinshi".to_owned());
        let config = xinshi::config::Config::from_toml_and_env(&text, env).unwrap();
        assert!(!config.cluster.listen.is_empty(), "node{n} is a cluster node");
        assert!(names.insert(config.cluster.name.clone()), "node{n}: names are unique");
    }
}
