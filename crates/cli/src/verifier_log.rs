//! Reading the kernel verifier's log: the verdict's message, the failing instruction, and the
//! statistics lines (`processed N insns ...`, `verification time N usec`, `stack depth ...`).
//!
//! Pure text processing, so it is tested without a kernel; the loader in [`crate::kernel`] feeds
//! it the log captured with `bpf_program__set_log_buf`.

/// What the log says beyond the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogSummary {
    /// The first error message (the kernel prints the last failing check just before the
    /// statistics), e.g. `R1 invalid mem access 'scalar'`. `None` for an accepted program.
    pub message: Option<String>,
    /// Index (in 8-byte slots) of the last instruction the verifier printed before the error.
    pub error_insn: Option<u32>,
    /// `processed N insns`.
    pub insns_processed: Option<u64>,
    /// `verification time N usec` (printed only when the log level has the stats bit, 4).
    pub verification_time_us: Option<u64>,
    /// `stack depth A+B...`, as printed.
    pub stack_depth: Option<String>,
}

fn number_after(line: &str, prefix: &str) -> Option<u64> {
    let rest = line.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// True for the lines the kernel adds after the verdict, at log level 4 or any level, and the
/// state dumps that follow `infinite loop detected` (`cur state:` / `old state:`).
fn is_stats_line(line: &str) -> bool {
    line.starts_with("processed ")
        || line.starts_with("verification time ")
        || line.starts_with("stack depth ")
        || line.starts_with("cur state:")
        || line.starts_with("old state:")
}

/// The slot index of an instruction line as the verifier prints it: `12: (85) call ...` or
/// `12: R1=ctx() ...`.
fn insn_index(line: &str) -> Option<u32> {
    let (num, rest) = line.split_once(": ")?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !rest.starts_with('(') {
        return None;
    }
    num.parse().ok()
}

/// Summarises a verifier log. `accepted` says whether the load succeeded; for a rejected program
/// the message is the last non-statistics line.
pub fn summarize(log: &str, accepted: bool) -> LogSummary {
    let mut summary = LogSummary::default();
    let mut last_text: Option<&str> = None;
    for line in log.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if let Some(n) = number_after(line, "processed ") {
            summary.insns_processed = Some(n);
        } else if let Some(n) = number_after(line, "verification time ") {
            summary.verification_time_us = Some(n);
        } else if let Some(depth) = line.strip_prefix("stack depth ") {
            summary.stack_depth = Some(depth.to_owned());
        }
        if is_stats_line(line) {
            continue;
        }
        if let Some(i) = insn_index(line) {
            summary.error_insn = Some(i);
        }
        last_text = Some(line);
    }
    if accepted {
        summary.error_insn = None;
    } else {
        summary.message = last_text.map(str::to_owned);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_log_gives_message_insn_and_stats() {
        let log = "func#0 @0\n\
                   0: R1=ctx() R10=fp0\n\
                   0: (b7) r1 = 0                        ; R1_w=0\n\
                   1: (61) r0 = *(u32 *)(r1 +0)\n\
                   R1 invalid mem access 'scalar'\n\
                   verification time 12 usec\n\
                   stack depth 0\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let s = summarize(log, false);
        assert_eq!(s.message.as_deref(), Some("R1 invalid mem access 'scalar'"));
        assert_eq!(s.error_insn, Some(1));
        assert_eq!(s.insns_processed, Some(2));
        assert_eq!(s.verification_time_us, Some(12));
        assert_eq!(s.stack_depth.as_deref(), Some("0"));
    }

    #[test]
    fn accepted_log_has_stats_and_no_message() {
        let log = "verification time 360 usec\nstack depth 32+0\n\
                   processed 178 insns (limit 1000000) max_states_per_insn 1 total_states 9 peak_states 9 mark_read 0\n";
        let s = summarize(log, true);
        assert_eq!(s.message, None);
        assert_eq!((s.insns_processed, s.verification_time_us), (Some(178), Some(360)));
    }

    #[test]
    fn message_without_instruction_lines() {
        let log = "metadata kfuncs require device-bound program\n\
                   processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let s = summarize(log, false);
        assert_eq!(s.message.as_deref(), Some("metadata kfuncs require device-bound program"));
        assert_eq!(s.error_insn, None);
    }
}
