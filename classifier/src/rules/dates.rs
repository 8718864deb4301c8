//! Message dates as SpamAssassin's HeaderEval compares them (`check_for_shifted_date`).

use super::htext::decoded;
use crate::message::MessageView;

/// Seconds from the Received times to the Date header, as SpamAssassin measures it: the
/// Date (Resent-Date first) minus each Received header's time, the smallest in magnitude.
/// Local delivery and fetchmail hops at the top are left out, and so is a zero difference
/// to the oldest Received header when there are several. 0 when either side is missing.
pub(crate) fn date_diff(view: &MessageView) -> i64 {
    date_diff_by(view, parse_date)
}

/// [`date_diff`] with SpamAssassin's own date parser ([`parse_rfc822`]): a Date without a
/// zone, or with one it cannot read (`+05-30`), is taken as UTC, as SpamAssassin takes it.
pub(crate) fn date_diff_sa(view: &MessageView) -> i64 {
    date_diff_by(view, parse_rfc822)
}

fn date_diff_by(view: &MessageView, parse: fn(&str) -> Option<i64>) -> i64 {
    let Some(date) = date_header_time(view, parse) else {
        return 0;
    };
    let times = received_times(view, parse);
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

fn date_header_time(view: &MessageView, parse: fn(&str) -> Option<i64>) -> Option<i64> {
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
            if let Some(t) = parse(&v) {
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
fn received_times(view: &MessageView, parse: fn(&str) -> Option<i64>) -> Vec<i64> {
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
    rcvd.iter()
        .filter_map(|r| received_date(r, parse))
        .collect()
}

/// The first ` D Mon YYYY HH:MM:SS ZONE` in a Received header, parsed.
fn received_date(r: &str, parse: fn(&str) -> Option<i64>) -> Option<i64> {
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
            if let Some(t) = parse(&format!(
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

/// Time zone names SpamAssassin's date parser knows, with their offsets.
const ZONES: &[(&str, &str)] = &[
    ("UT", "+0000"),
    ("UTC", "+0000"),
    ("GMT", "+0000"),
    ("NDT", "-0230"),
    ("AST", "-0400"),
    ("ADT", "-0300"),
    ("NST", "-0330"),
    ("EST", "-0500"),
    ("EDT", "-0400"),
    ("CST", "-0600"),
    ("CDT", "-0500"),
    ("MST", "-0700"),
    ("MDT", "-0600"),
    ("PST", "-0800"),
    ("PDT", "-0700"),
    ("HST", "-1000"),
    ("AKST", "-0900"),
    ("AKDT", "-0800"),
    ("HADT", "-0900"),
    ("HAST", "-1000"),
    ("BST", "+0100"),
    ("IST", "+0100"),
    ("WET", "+0000"),
    ("WEST", "+0100"),
    ("CET", "+0100"),
    ("CEST", "+0200"),
    ("EET", "+0200"),
    ("EEST", "+0300"),
    ("MSK", "+0300"),
    ("MSD", "+0400"),
    ("MET", "+0100"),
    ("MEZ", "+0100"),
    ("MEST", "+0200"),
    ("MESZ", "+0200"),
    ("BRST", "-0200"),
    ("BRT", "-0300"),
    ("AEST", "+1000"),
    ("AEDT", "+1100"),
    ("ACST", "+0930"),
    ("ACDT", "+1030"),
    ("AWST", "+0800"),
    ("NZST", "+1200"),
    ("NZDT", "+1300"),
    ("JST", "+0900"),
    ("KST", "+0900"),
    ("HKT", "+0800"),
    ("SGT", "+0800"),
    ("PHT", "+0800"),
    ("IDT", "+0300"),
];

/// A date as SpamAssassin's `parse_rfc822_date` reads it (lenient: day, month name and year in
/// either order, an optional time and zone; out-of-range fields clamped, years held to
/// 1970-2037), in seconds since the epoch.
pub(crate) fn parse_rfc822(date: &str) -> Option<i64> {
    use std::sync::OnceLock;
    static RX: OnceLock<[regex::Regex; 6]> = OnceLock::new();
    let [dmy, mdy, dmy2, hms, num_tz, name_tz] = RX.get_or_init(|| {
        const MON: &str = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
        let r = |p: &str| regex::Regex::new(p).unwrap_or_else(|e| panic!("date pattern: {e}"));
        [
            r(&format!(r"(?i) (\d+) {MON} (\d{{4}}) ")),
            r(&format!(r"(?i) {MON} +(\d+) \d+:\d+:\d+ (\d{{4}}) ")),
            r(&format!(r"(?i) (\d+) {MON} (\d{{2,3}}) ")),
            r(r" (\d?\d):(\d\d)(:(\d\d))? "),
            r(r" ([-+]\d{4}) "),
            r(r"\b([A-Z]{2,4}(?:-DST)?)\b"),
        ]
    });
    let mut s = format!(" {date} ");
    s = regex_lite_commas(&s);
    let take = |s: &mut String, re: &regex::Regex| -> Option<Vec<String>> {
        let c = re.captures(s)?;
        let groups = (0..c.len())
            .map(|i| c.get(i).map_or(String::new(), |m| m.as_str().to_owned()))
            .collect();
        let m = c.get(0)?.range();
        s.replace_range(m, " ");
        Some(groups)
    };
    let (dd, mon, year) = if let Some(g) = take(&mut s, dmy) {
        (g[1].clone(), g[2].clone(), g[3].clone())
    } else if let Some(g) = take(&mut s, mdy) {
        (g[2].clone(), g[1].clone(), g[3].clone())
    } else if let Some(g) = take(&mut s, dmy2) {
        (g[1].clone(), g[2].clone(), g[3].clone())
    } else {
        return None;
    };
    let num = |x: &str| x.parse::<i64>().unwrap_or(i64::MAX / 4);
    let mut yyyy = num(&year);
    if year.len() == 2 && yyyy < 50 {
        yyyy += 2000;
    } else if year.len() != 4 {
        yyyy += 1900;
    }
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if let Some(g) = take(&mut s, hms) {
        (hh, mm) = (num(&g[1]), num(&g[2]));
        ss = if g[4].is_empty() { 0 } else { num(&g[4]) };
    }
    let tz = if let Some(g) = take(&mut s, num_tz) {
        g[1].clone()
    } else if let Some(g) = take(&mut s, name_tz) {
        ZONES
            .iter()
            .find(|(n, _)| *n == g[1])
            .map_or("-0000", |(_, z)| z)
            .to_owned()
    } else {
        "-0000".to_owned()
    };
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mut mmm = months
        .iter()
        .position(|m| *m == mon.to_ascii_lowercase())
        .map_or(0, |i| i as i64 + 1);
    let mut dd = num(&dd);
    (ss, mm, hh) = (ss.min(59), mm.min(59), hh.min(23));
    let leap = yyyy % 4 == 0 && (yyyy % 100 != 0 || yyyy % 400 == 0);
    let max_dd = match mmm {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    };
    if dd > max_dd {
        dd = 1;
        mmm += 1;
        if mmm > 12 {
            mmm = 1;
            yyyy += 1;
        }
    }
    yyyy = yyyy.clamp(1970, 2037);
    if mmm == 0 || dd == 0 {
        // Time::Local rejects a zero month or day.
        return None;
    }
    let mut time = days_from_civil(yyyy, mmm, dd) * 86_400 + hh * 3600 + mm * 60 + ss;
    let b = tz.as_bytes();
    if b.len() >= 5 && b[b.len() - 5..].iter().skip(1).all(u8::is_ascii_digit) {
        let t = &tz[tz.len() - 5..];
        let off = (num(&t[1..3]) * 60 + num(&t[3..5])) * 60;
        match t.as_bytes()[0] {
            b'-' => time += off,
            b'+' if time < off => time = 0,
            b'+' => time -= off,
            _ => {}
        }
    }
    Some(time)
}

/// `, *` to one space, then runs of white space to one space.
fn regex_lite_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            out.push(' ');
            while chars.peek() == Some(&' ') {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    format!(" {} ", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn spamassassins_reading_of_odd_zones() {
        let m = "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n\
                 Date: Tue, 1 Oct 2002 14:00:00 +05-30\nSubject: x\n\nbody\n";
        let v = MessageView::parse(m.as_bytes(), &Limits::default());
        // SpamAssassin cannot read `+05-30` and takes the time as UTC: 4 hours ahead.
        assert_eq!(date_diff_sa(&v), 4 * 3600);
        let m = "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n\
                 Date: Tue, 1 Oct 2002 04:00:00\nSubject: x\n\nbody\n";
        let v = MessageView::parse(m.as_bytes(), &Limits::default());
        assert_eq!(date_diff_sa(&v), -6 * 3600);
    }

    #[test]
    fn dates_read_as_spamassassin_reads_them() {
        assert_eq!(
            parse_rfc822("Tue, 1 Oct 2002 10:00:00 +0000"),
            Some(1_033_466_400)
        );
        assert_eq!(
            parse_rfc822("1 Oct 2002 12:00:00 +0200"),
            Some(1_033_466_400)
        );
        // The month-first form swallows its time: midnight, as in SpamAssassin.
        assert_eq!(
            parse_rfc822("Tue Oct  1 05:00:00 2002 EST"),
            Some(1_033_448_400)
        );
        assert_eq!(parse_rfc822("1 Oct 02 10:00 GMT"), Some(1_033_466_400));
        // Day 31 of a 30-day month rolls over; a year before 1970 is held at 1970.
        assert_eq!(
            parse_rfc822("31 Sep 2002 00:00:00 +0000"),
            parse_rfc822("1 Oct 2002 00:00:00 +0000")
        );
        assert_eq!(parse_rfc822("1 Jan 1960 00:00:00 +0000"), Some(0));
        assert_eq!(parse_rfc822("yesterday"), None);
    }
}
