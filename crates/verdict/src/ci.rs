//! The run context of the CI system `verdict upload` runs in, from its
//! environment variables (the same keys the Buildkite collectors send).

use std::collections::BTreeMap;

pub type Env = BTreeMap<String, String>;

pub fn from_process() -> Env {
    std::env::vars().filter(|(_, v)| !v.is_empty()).collect()
}

/// `run_env` pairs for the detected CI; `generated_key` is used where the
/// CI gives no run identity.
pub fn run_env(env: &Env, generated_key: &str) -> Vec<(String, String)> {
    let get = |k: &str| env.get(k).cloned();
    let (ci, fields): (&str, [(&str, Option<String>); 7]) = if let Some(id) = get("BUILDKITE_BUILD_ID") {
        (
            "buildkite",
            [
                ("key", Some(id)),
                ("url", get("BUILDKITE_BUILD_URL")),
                ("branch", get("BUILDKITE_BRANCH")),
                ("commit_sha", get("BUILDKITE_COMMIT")),
                ("number", get("BUILDKITE_BUILD_NUMBER")),
                ("job_id", get("BUILDKITE_JOB_ID")),
                ("message", get("BUILDKITE_MESSAGE")),
            ],
        )
    } else if let (Some(run_id), Some(number)) = (get("GITHUB_RUN_ID"), get("GITHUB_RUN_NUMBER")) {
        let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        let attempt = get("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        (
            "github_actions",
            [
                // One key per workflow run attempt, so that every job of it merges into one run.
                ("key", Some(format!("{run_id}-{attempt}"))),
                ("url", get("GITHUB_REPOSITORY").map(|r| format!("{server}/{r}/actions/runs/{run_id}"))),
                ("branch", get("GITHUB_HEAD_REF").or_else(|| get("GITHUB_REF_NAME"))),
                ("commit_sha", get("GITHUB_SHA")),
                ("number", Some(number)),
                ("job_id", get("GITHUB_JOB")),
                ("message", None),
            ],
        )
    } else if let (Some(num), Some(workflow)) = (get("CIRCLE_BUILD_NUM"), get("CIRCLE_WORKFLOW_ID")) {
        (
            "circleci",
            [
                ("key", Some(format!("{workflow}-{num}"))),
                ("url", get("CIRCLE_BUILD_URL")),
                ("branch", get("CIRCLE_BRANCH")),
                ("commit_sha", get("CIRCLE_SHA1")),
                ("number", Some(num)),
                ("job_id", get("CIRCLE_JOB")),
                ("message", None),
            ],
        )
    } else if get("GITLAB_CI").is_some() {
        (
            "gitlab",
            [
                ("key", get("CI_PIPELINE_ID")),
                ("url", get("CI_PIPELINE_URL")),
                ("branch", get("CI_COMMIT_REF_NAME")),
                ("commit_sha", get("CI_COMMIT_SHA")),
                ("number", get("CI_PIPELINE_IID")),
                ("job_id", get("CI_JOB_ID")),
                ("message", get("CI_COMMIT_MESSAGE")),
            ],
        )
    } else if get("JENKINS_URL").is_some() && get("BUILD_TAG").is_some() {
        (
            "jenkins",
            [
                ("key", get("BUILD_TAG")),
                ("url", get("BUILD_URL")),
                ("branch", get("BRANCH_NAME").or_else(|| get("GIT_BRANCH"))),
                ("commit_sha", get("GIT_COMMIT")),
                ("number", get("BUILD_NUMBER")),
                ("job_id", get("JOB_NAME")),
                ("message", None),
            ],
        )
    } else {
        (
            "generic",
            [("key", None), ("url", None), ("branch", None), ("commit_sha", None), ("number", None), ("job_id", None), ("message", None)],
        )
    };
    let mut out = vec![("CI".to_owned(), ci.to_owned())];
    for (k, v) in fields {
        let v = if k == "key" { v.or_else(|| Some(generated_key.to_owned())) } else { v };
        if let Some(v) = v {
            out.push((k.to_owned(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
        pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn buildkite_wins_over_others() {
        let e = env(&[("BUILDKITE_BUILD_ID", "b-1"), ("BUILDKITE_BRANCH", "main"), ("GITHUB_RUN_ID", "9"), ("GITHUB_RUN_NUMBER", "3")]);
        let r = run_env(&e, "gen");
        assert_eq!((get(&r, "CI"), get(&r, "key"), get(&r, "branch")), (Some("buildkite"), Some("b-1"), Some("main")));
    }

    #[test]
    fn github_actions() {
        let e = env(&[
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_NUMBER", "7"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_REPOSITORY", "acme/app"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_SHA", "abc"),
        ]);
        let r = run_env(&e, "gen");
        assert_eq!(get(&r, "key"), Some("42-2"));
        assert_eq!(get(&r, "url"), Some("https://github.com/acme/app/actions/runs/42"));
        assert_eq!((get(&r, "branch"), get(&r, "commit_sha")), (Some("main"), Some("abc")));
    }

    #[test]
    fn circle_gitlab_jenkins_and_generic() {
        let r = run_env(&env(&[("CIRCLE_BUILD_NUM", "5"), ("CIRCLE_WORKFLOW_ID", "wf")]), "gen");
        assert_eq!((get(&r, "CI"), get(&r, "key")), (Some("circleci"), Some("wf-5")));
        let r = run_env(&env(&[("GITLAB_CI", "true"), ("CI_PIPELINE_ID", "77"), ("CI_COMMIT_REF_NAME", "dev")]), "gen");
        assert_eq!((get(&r, "CI"), get(&r, "key"), get(&r, "branch")), (Some("gitlab"), Some("77"), Some("dev")));
        let r = run_env(&env(&[("JENKINS_URL", "http://j"), ("BUILD_TAG", "jenkins-app-12"), ("GIT_COMMIT", "f00")]), "gen");
        assert_eq!((get(&r, "CI"), get(&r, "key"), get(&r, "commit_sha")), (Some("jenkins"), Some("jenkins-app-12"), Some("f00")));
        let r = run_env(&env(&[]), "gen");
        assert_eq!((get(&r, "CI"), get(&r, "key")), (Some("generic"), Some("gen")));
    }
}
