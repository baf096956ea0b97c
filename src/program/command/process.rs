//! The program's process tree: started in its own process group with `PR_SET_PDEATHSIG`
//! (it dies with its supervisor), the supervisor a child subreaper (whatever the program
//! leaves behind, even after `setsid`, becomes the supervisor's child); stopped with SIGTERM
//! to its group and to every descendant, then SIGKILL after a grace period.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Makes this process the reaper of its orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`).
pub fn become_subreaper() {
    // SAFETY: prctl with these arguments only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Starts `cmd` in a new process group, to die with this process (SIGKILL).
pub fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    crate::process::die_with_parent(&mut cmd, libc::SIGKILL);
    cmd.spawn()
}

/// This process's descendants, from /proc (children of children included).
pub fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let mut f = rest.split_whitespace();
            let state = f.next().unwrap_or("");
            if let Some(ppid) = f.next().and_then(|p| p.parse().ok()) {
                if state != "Z" || ppid == me {
                    parent_of.push((pid, ppid));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![me];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parent_of {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill sends a signal; a pid that is gone gives ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Sends `sig` to the program's group and to every descendant of this process.
pub fn signal_tree(group: i32, sig: i32) {
    signal(-group, sig);
    for pid in descendants() {
        signal(pid, sig);
    }
}

/// Reaps every child of this process that has ended (orphans adopted as subreaper).
pub fn reap() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on any child, without blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// Ends whatever is left of the tree: SIGTERM, then SIGKILL to what is still there after
/// `grace`; every child reaped. Returns how many processes were still there at first.
pub fn end_tree(group: i32, grace: Duration) -> usize {
    reap();
    let left = descendants().len();
    if left == 0 {
        signal(-group, libc::SIGKILL);
        return 0;
    }
    signal_tree(group, libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        reap();
        if descendants().is_empty() {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..50 {
        signal_tree(group, libc::SIGKILL);
        reap();
        if descendants().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    left
}
