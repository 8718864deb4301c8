//! The bodies of SYMBOLS and REPORT: renderings of a [`Verdict`], worded like SpamAssassin's
//! so that tools which show or log them (Exim's `$spam_report`, Amavis) read naturally.

use mailsift::Verdict;

/// SYMBOLS: the names of the tests hit, comma-separated (the Bayes band first, as in
/// `X-Spam-Status: tests=`).
pub fn symbols(v: &Verdict) -> String {
    v.test_names().join(",")
}

/// Each test hit with its points: the Bayes band (when Bayes had evidence) and the rules, each
/// rule with the weight it counted (the learned combination's, see `mailsift explain` for the
/// configured score beside it).
pub fn tests(v: &Verdict) -> Vec<(&str, f64, &str)> {
    let mut out = Vec::with_capacity(v.hits.len() + 1);
    if let Some(band) = v.bayes_band {
        out.push((band, v.bayes_points, "Bayes spam probability band"));
    }
    out.extend(
        v.hits
            .iter()
            .zip(&v.weights)
            .map(|(h, w)| (h.name.as_str(), *w, h.description.as_str())),
    );
    out
}

/// REPORT: the verdict and a table of the tests hit, in SpamAssassin's layout.
pub fn report(v: &Verdict) -> String {
    let mut out = String::with_capacity(256 + 80 * v.hits.len());
    out.push_str(if v.is_spam {
        "mailsift has identified this incoming email as possible spam.\r\n"
    } else {
        "mailsift has not identified this incoming email as spam.\r\n"
    });
    out.push_str("\r\n");
    out.push_str(&format!(
        "Content analysis details:   ({:.1} points, {:.1} required)\r\n\r\n",
        v.score, v.required
    ));
    out.push_str(" pts rule name              description\r\n");
    out.push_str(
        "---- ---------------------- --------------------------------------------------\r\n",
    );
    for (name, points, description) in tests(v) {
        // One line each: a description never carries line breaks into the report.
        let description: String = description
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&format!("{points:>4.1} {name:<22} {description}\r\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_every_test_with_its_points() {
        let engine = mailsift::Engine::new();
        let model = mailsift::MemoryModel::new();
        let msg = b"From: a@example.com\r\nSubject: FREE MONEY!!! ACT NOW\r\n\r\nClick here http://192.0.2.1/win now\r\n";
        let v = engine.classify(msg, &model).expect("classify");
        let text = report(&v);
        assert!(
            text.contains(&format!("({:.1} points, 5.0 required)", v.score)),
            "{text}"
        );
        for (name, _, _) in tests(&v) {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert_eq!(symbols(&v), v.test_names().join(","));
        assert!(text.lines().all(|l| l.len() < 200), "{text}");
    }
}
