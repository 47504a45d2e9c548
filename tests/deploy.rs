//! The job-engine recipes in deploy/: the Slurm one run for real on a localhost cluster,
//! the Kubernetes one checked for structure and its commands run as the Job's pods would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::media::*;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("faststyle")
}

#[test]
fn slurm_array_and_join_on_a_localhost_cluster() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!(
            "SKIPPED: slurmd must run as root to start jobs; run deploy/slurm/test-localhost.sh as root"
        );
        return;
    }
    let out = Command::new(root().join("deploy/slurm/test-localhost.sh"))
        .arg(binary())
        .output()
        .expect("bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("PASSED"),
        "{stdout}\n{stderr}\n(slurmctld and slurmd are installed by scripts/setup.sh)"
    );
}

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes").join(name)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn container(job: &Value) -> &Value {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn env(container: &Value, name: &str) -> Option<String> {
    container["env"].as_sequence()?.iter().find_map(|e| {
        (e["name"].as_str() == Some(name)).then(|| e["value"].as_str().unwrap().to_string())
    })
}

/// A pod's command line as Kubernetes expands it ($(VAR) from the container's env), with
/// the volume's mount path replaced by a local folder and the image's faststyle by ours.
fn command_line(job: &Value, data: &Path) -> Vec<String> {
    let c = container(job);
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let mut line = strings(&c["command"]);
    line.extend(strings(&c["args"]));
    line.iter()
        .map(|arg| {
            let mut arg = arg.clone();
            if let Some(chunks) = env(c, "CHUNKS") {
                arg = arg.replace("$(CHUNKS)", &chunks);
            }
            if arg == "faststyle" {
                return binary().to_string_lossy().into_owned();
            }
            arg.replace(mount, data.to_str().unwrap())
        })
        .collect()
}

#[test]
fn kubernetes_indexed_job_and_join_run_as_their_pods_would() {
    let chunks = manifest("chunks-job.yaml");
    let join = manifest("join-job.yaml");
    for job in [&chunks, &join] {
        assert_eq!(job["apiVersion"], "batch/v1");
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
        let c = container(job);
        assert_eq!(c["volumeMounts"][0]["name"], "data");
        let volumes = &job["spec"]["template"]["spec"]["volumes"][0];
        assert_eq!(volumes["name"], "data");
        assert_eq!(
            volumes["persistentVolumeClaim"]["claimName"],
            chunks["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        );
    }
    let spec = &chunks["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(
        env(container(&chunks), "CHUNKS").unwrap(),
        n.to_string(),
        "completions and CHUNKS disagree"
    );
    let parallelism = spec["parallelism"].as_u64().unwrap();
    assert!((1..=n).contains(&parallelism));
    assert_eq!(
        container(&chunks)["resources"]["limits"]["nvidia.com/gpu"],
        1,
        "a GPU per pod"
    );

    // The pods' commands, run here in parallel with the index Kubernetes would set.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let chunk_line = command_line(&chunks, data);
    let input = PathBuf::from(&chunk_line[2]);
    assert!(input.starts_with(data), "{chunk_line:?}");
    make_clip(
        input.parent().unwrap(),
        input.file_name().unwrap().to_str().unwrap(),
        "96x64",
        25,
        2.0,
        true,
        &["-c:v", "libx264", "-c:a", "aac"],
    );
    // All started before any is waited for: parallel, as the Job's pods.
    let pods: Vec<_> = (0..n)
        .map(|k| {
            Command::new(&chunk_line[0])
                .args(&chunk_line[1..])
                .env("JOB_COMPLETION_INDEX", k.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, pod) in pods.into_iter().enumerate() {
        let pod = pod.wait_with_output().unwrap();
        assert!(
            pod.status.success(),
            "pod {k}: {}",
            String::from_utf8_lossy(&pod.stderr)
        );
    }
    let join_line = command_line(&join, data);
    assert_eq!(join_line[2], chunk_line[2], "join reads the chunks' source");
    assert_eq!(join_line[4], chunk_line[8], "join reads the chunks' folder");
    let out = Command::new(&join_line[0])
        .args(&join_line[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output = PathBuf::from(&join_line[6]);
    assert_eq!(frame_count(&output), 50);
    assert_eq!(frame_times(&output), frame_times(&input));
    assert_eq!(packets_md5(&output, "a"), packets_md5(&input, "a"));
}
