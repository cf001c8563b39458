//! The `linli` command line, run as a real process: help texts, configuration precedence,
//! accounts with passwords on standard input, the demo and `linli check`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn linli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linli"));
    for var in [
        "LINLI_DATABASE_URL",
        "LINLI_CONFIG",
        "LINLI_LISTEN",
        "LINLI_DATA_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linli runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("linli.db").display())
}

#[test]
fn every_subcommand_explains_itself() {
    for (args, expect) in [
        (vec!["--help"], "serve"),
        (vec!["serve", "--help"], "--data-key-file"),
        (vec!["migrate", "--help"], "migrations"),
        (vec!["demo", "--help"], "demo-logins.txt"),
        (vec!["check", "--help"], "audit"),
        (vec!["user", "add", "--help"], "standard input"),
        (vec!["user", "passwd", "--help"], "standard input"),
        (vec!["user", "disable", "--help"], "session"),
        (vec!["user", "list", "--help"], "List"),
        (vec!["community", "add", "--help"], "--grid"),
    ] {
        let output = run(linli().args(&args), None);
        assert!(output.status.success(), "{args:?}");
        assert!(
            text(&output).contains(expect),
            "{args:?} help lacks {expect}: {}",
            text(&output)
        );
    }
}

#[test]
fn flags_beat_environment_beats_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("linli.toml");
    let from_file = dir.path().join("from-file.db");
    std::fs::write(
        &config,
        format!("database = \"sqlite://{}\"\n", from_file.display()),
    )
    .unwrap();
    assert!(
        run(linli().arg("--config").arg(&config).arg("migrate"), None)
            .status
            .success()
    );
    assert!(from_file.exists(), "the file's database is used");

    let from_env = dir.path().join("from-env.db");
    let out = run(
        linli()
            .env("LINLI_CONFIG", &config)
            .env(
                "LINLI_DATABASE_URL",
                format!("sqlite://{}", from_env.display()),
            )
            .arg("migrate"),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(from_env.exists(), "the environment beats the file");

    let from_flag = dir.path().join("from-flag.db");
    let out = run(
        linli()
            .env(
                "LINLI_DATABASE_URL",
                format!("sqlite://{}", from_env.display()),
            )
            .arg("--database")
            .arg(format!("sqlite://{}", from_flag.display()))
            .arg("migrate"),
        None,
    );
    assert!(out.status.success());
    assert!(from_flag.exists(), "the flag beats the environment");

    std::fs::write(&config, "databse = 'typo'\n").unwrap();
    let out = run(linli().arg("--config").arg(&config).arg("migrate"), None);
    assert!(!out.status.success());
    assert!(text(&out).contains("not valid"), "{}", text(&out));
}

#[test]
fn accounts_are_managed_with_passwords_on_standard_input_and_check_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let out = run(
        linli()
            .args([
                "--database",
                &db,
                "community",
                "add",
                "--district",
                "440310",
                "坪山区",
                "--subdistrict",
                "440310001",
                "坪山街道",
            ])
            .args([
                "--code",
                "xinhe",
                "--name",
                "新和社区",
                "--grid",
                "XH-01=新和第一网格",
            ]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));

    let add = |password: &str, extra: &[&str]| {
        run(
            linli()
                .args([
                    "--database",
                    &db,
                    "user",
                    "add",
                    "lin.hai",
                    "--name",
                    "林海",
                    "--role",
                    "community_admin",
                    "--community",
                    "xinhe",
                ])
                .args(extra),
            Some(password),
        )
    };
    let out = add("short\n", &[]);
    assert!(
        !out.status.success() && text(&out).contains("at least 8"),
        "{}",
        text(&out)
    );
    let out = add("password123\n", &[]);
    assert!(
        !out.status.success() && text(&out).contains("too common"),
        "{}",
        text(&out)
    );
    let out = add("", &[]);
    assert!(
        !out.status.success() && text(&out).contains("standard input"),
        "{}",
        text(&out)
    );
    let out = add("一条足够长的口令句子\n", &["--grid", "XH-01"]);
    assert!(
        !out.status.success() && text(&out).contains("grid"),
        "only grid workers take grids: {}",
        text(&out)
    );
    let out = add("一条足够长的口令句子\n", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = add("another long passphrase\n", &[]);
    assert!(!out.status.success() && text(&out).contains("already taken"));

    let worker = run(
        linli().args([
            "--database",
            &db,
            "user",
            "add",
            "liu.fang",
            "--name",
            "刘芳",
            "--role",
            "grid_worker",
            "--community",
            "xinhe",
            "--grid",
            "XH-01",
        ]),
        Some("网格员刘芳的长口令\n"),
    );
    assert!(worker.status.success(), "{}", text(&worker));

    let list = run(linli().args(["--database", &db, "user", "list"]), None);
    assert!(text(&list).contains("lin.hai") && text(&list).contains("liu.fang"));
    let passwd = run(
        linli().args(["--database", &db, "user", "passwd", "lin.hai"]),
        Some("a fresh long passphrase\n"),
    );
    assert!(passwd.status.success(), "{}", text(&passwd));
    let disable = run(
        linli().args(["--database", &db, "user", "disable", "liu.fang"]),
        None,
    );
    assert!(disable.status.success());
    let list = run(linli().args(["--database", &db, "user", "list"]), None);
    assert!(
        text(&list)
            .lines()
            .any(|l| l.starts_with("liu.fang") && l.contains("disabled")),
        "{}",
        text(&list)
    );

    let check = run(linli().args(["--database", &db, "check"]), None);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("ok"));

    // Someone edits the audit log behind Linli's back.
    let conn = format!("{}", dir.path().join("linli.db").display());
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DROP TRIGGER audit_log_no_update'); \
             c.execute(\"UPDATE audit_log SET action='nothing_happened' WHERE seq=1\"); c.commit()",
            &conn,
        ])
        .status()
        .expect("python3 is available");
    assert!(status.success());
    let check = run(linli().args(["--database", &db, "check"]), None);
    assert!(!check.status.success(), "check must fail on a broken chain");
    assert!(text(&check).contains("altered"), "{}", text(&check));
}

#[test]
fn demo_prints_logins_and_writes_them_to_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let first = run(linli().args(["--database", &db, "demo"]), None);
    assert!(first.status.success(), "{}", text(&first));
    let file = dir.path().join("demo-logins.txt");
    let lines_once = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let lines: Vec<Vec<&str>> = lines_once.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), linli_domain::auth::Role::ALL.len());
    for role in linli_domain::auth::Role::ALL {
        let line = lines
            .iter()
            .find(|l| l[0] == role.as_str())
            .expect("one login per role");
        assert_eq!(line.len(), 3);
        assert!(
            text(&first).contains(line[2]),
            "the password is printed too"
        );
    }
    let again = run(linli().args(["--database", &db, "demo"]), None);
    assert!(again.status.success());
    assert_ne!(
        std::fs::read_to_string(&file).unwrap(),
        lines_once,
        "a rerun issues new passwords"
    );
    assert!(
        run(linli().args(["--database", &db, "check"]), None)
            .status
            .success()
    );
}

/// `linli check` reads every page of a SQLite file (`quick_check`); `--thorough` also
/// holds every index against its table (`integrity_check`), which a damaged index needs.
#[test]
fn check_finds_a_damaged_page_and_thorough_finds_an_index_that_disagrees_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let file = dir.path().join("linli.db").display().to_string();
    assert!(
        run(linli().args(["--database", &db, "demo"]), None)
            .status
            .success()
    );
    let python = |script: &str| {
        let status = Command::new("python3")
            .args(["-c", script, &file])
            .status()
            .expect("python3 is available");
        assert!(status.success());
    };

    // An index whose entries no longer match its table: every page is well formed.
    python(
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA writable_schema=ON'); \
         c.execute(\"UPDATE sqlite_schema SET sql='CREATE INDEX residents_by_household ON residents (community_id, building_id)' \
         WHERE name='residents_by_household'\"); c.commit()",
    );
    let thorough = run(
        linli().args(["--database", &db, "check", "--thorough"]),
        None,
    );
    assert!(!thorough.status.success(), "{}", text(&thorough));
    assert!(
        text(&thorough).contains("database: row")
            && text(&thorough).contains("missing from index residents_by_household"),
        "{}",
        text(&thorough)
    );
    let conflicting = run(
        linli().args(["--database", &db, "check", "--thorough", "--chains-only"]),
        None,
    );
    assert!(!conflicting.status.success());
    assert!(
        text(&conflicting).contains("cannot be used with"),
        "{}",
        text(&conflicting)
    );

    // A page overwritten on disk: the default check reads it and says which.
    python(
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); \
         size=c.execute('PRAGMA page_size').fetchone()[0]; \
         root=c.execute(\"SELECT rootpage FROM sqlite_schema WHERE name='residents_by_household'\").fetchone()[0]; c.close(); \
         f=open(sys.argv[1],'r+b'); f.seek((root-1)*size); f.write(bytes([13])+bytes([255])*7); f.close()",
    );
    let quick = run(linli().args(["--database", &db, "check"]), None);
    assert!(!quick.status.success(), "{}", text(&quick));
    assert!(
        text(&quick).contains("btreeInitPage() returns error code 11"),
        "{}",
        text(&quick)
    );
}
