//! The CSV A1111 writes for styles.csv (Python's csv module, excel dialect): a header
//! row, fields separated by commas, quoted with `"` when they hold commas, quotes or
//! line breaks, a quote inside quotes doubled.

use crate::Style;

/// Rows of fields.
fn rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted field opened before line {line} is never closed"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

pub fn styles(text: &str) -> Result<Vec<Style>, String> {
    let rows = rows(text)?;
    let Some((header, body)) = rows.split_first() else { return Ok(Vec::new()) };
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let name = column("name").ok_or("the header row has no \"name\" column (A1111's is name,prompt,negative_prompt)")?;
    let prompt = column("prompt");
    let negative = column("negative_prompt");
    let get = |row: &Vec<String>, i: Option<usize>| i.and_then(|i| row.get(i)).cloned().unwrap_or_default();
    Ok(body
        .iter()
        .filter(|row| row.iter().any(|f| !f.is_empty()))
        .map(|row| Style { name: get(row, Some(name)), prompt: get(row, prompt), negative_prompt: get(row, negative) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a1111_styles() {
        let text = "name,prompt,negative_prompt\n\
                    Cinematic,\"cinematic still of {prompt}, shallow depth of field\",\"cartoon, \"\"flat\"\"\"\n\
                    \n\
                    Plain,best quality,\n";
        let styles = styles(text).unwrap();
        assert_eq!(styles.len(), 2);
        assert_eq!(styles[0].name, "Cinematic");
        assert_eq!(styles[0].prompt, "cinematic still of {prompt}, shallow depth of field");
        assert_eq!(styles[0].negative_prompt, "cartoon, \"flat\"");
        assert_eq!((styles[1].prompt.as_str(), styles[1].negative_prompt.as_str()), ("best quality", ""));
    }

    #[test]
    fn broken_files_say_why() {
        assert!(styles("prompt\nx\n").unwrap_err().contains("no \"name\" column"));
        assert!(styles("name,prompt\na,\"open\n").unwrap_err().contains("never closed"));
    }
}
