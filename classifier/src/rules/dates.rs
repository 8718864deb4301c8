//! Message dates as SpamAssassin's HeaderEval compares them (`check_for_shifted_date`).

use super::htext::decoded;
use crate::message::MessageView;

/// Seconds from the Received times to the Date header, as SpamAssassin measures it: the
/// Date (Resent-Date first) minus each Received header's time, the smallest in magnitude.
/// Local delivery and fetchmail hops at the top are left out, and so is a zero difference
/// to the oldest Received header when there are several. 0 when either side is missing.
pub(crate) fn date_diff(view: &MessageView) -> i64 {
    let Some(date) = date_header_time(view) else {
        return 0;
    };
    let times = received_times(view);
    if times.is_empty() {
        return 0;
    }
    let mut diffs: Vec<i64> = times.iter().map(|t| date - t).collect();
    if diffs.len() > 1 && diffs.last() == Some(&0) {
        diffs.pop();
    }
    diffs
        .into_iter()
        .min_by_key(|d| d.unsigned_abs())
        .unwrap_or(0)
}

fn date_header_time(view: &MessageView) -> Option<i64> {
    for name in ["Resent-Date", "Date"] {
        for h in view
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
        {
            let v = decoded(h);
            if v.is_empty() {
                continue;
            }
            if let Some(t) = parse_date(&v) {
                return Some(t);
            }
        }
    }
    None
}

fn parse_date(s: &str) -> Option<i64> {
    mail_parser::DateTime::parse_rfc822(s.trim()).map(|d| d.to_timestamp())
}

/// The times of the Received headers, newest first, as SpamAssassin finds them: the first
/// `D Mon YYYY HH:MM:SS ZONE` in each header.
fn received_times(view: &MessageView) -> Vec<i64> {
    let mut rcvd: Vec<String> = view
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Received"))
        .map(|h| decoded(h).into_owned())
        .filter(|v| !v.trim().is_empty())
        .collect();
    // A local hop at the top, then a fetchmail hop: both are the local system, not transit.
    let local = rcvd.first().is_some_and(|r| {
        r.contains("from localhost ") || r.contains("127.0.0.1") || r.contains("invoked by uid")
    });
    if local
        && rcvd
            .get(1)
            .is_some_and(|r| r.contains("by localhost with "))
    {
        let second = &rcvd[1];
        if second.contains("(fetchmail-") {
            rcvd.drain(..2);
        }
    }
    rcvd.iter().filter_map(|r| received_date(r)).collect()
}

/// The first ` D Mon YYYY HH:MM:SS ZONE` in a Received header, parsed.
fn received_date(r: &str) -> Option<i64> {
    let words: Vec<&str> = r.split_whitespace().collect();
    for i in 0..words.len().saturating_sub(4) {
        let day = words[i].trim_start_matches(|c: char| !c.is_ascii_digit());
        let ok = !day.is_empty()
            && day.len() <= 2
            && day.bytes().all(|b| b.is_ascii_digit())
            && words[i].len() <= day.len() + 1
            && words[i + 1].len() == 3
            && words[i + 2].bytes().all(|b| b.is_ascii_digit())
            && words[i + 3].split(':').count() == 3
            && words[i + 3]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b':');
        if ok {
            let zone = words[i + 4];
            if let Some(t) = parse_date(&format!(
                "{day} {} {} {} {zone}",
                words[i + 1],
                words[i + 2],
                words[i + 3]
            )) {
                return Some(t);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn diff(msg: &str) -> i64 {
        date_diff(&MessageView::parse(msg.as_bytes(), &Limits::default()))
    }

    #[test]
    fn smallest_difference_to_any_received_time() {
        let m = "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n\
                 Received: from c by a; Tue, 1 Oct 2002 08:00:00 +0000\n\
                 Date: Tue, 1 Oct 2002 07:00:00 +0000\nSubject: x\n\nbody\n";
        assert_eq!(diff(m), -3600);
        // No Received time: no difference (archived mail).
        assert_eq!(diff("Date: Tue, 1 Oct 2002 07:00:00 +0000\n\nx\n"), 0);
        // The oldest Received at the same time as the Date is ignored.
        let m = "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n\
                 Received: from c by a; Tue, 1 Oct 2002 07:00:00 +0000\n\
                 Date: Tue, 1 Oct 2002 07:00:00 +0000\n\nbody\n";
        assert_eq!(diff(m), -3 * 3600);
    }
}
