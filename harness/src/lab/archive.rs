//! The tar archive a container's files are uploaded in before it starts
//! ([`ContainerSpec::with_file`](super::ContainerSpec::with_file)).

use anyhow::Result;

/// Packs `(path, contents)` pairs into a tar archive rooted at `/`.
pub(super) fn tar_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(
            &mut header,
            path.trim_start_matches('/'),
            contents.as_slice(),
        )?;
    }
    Ok(builder.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_archives_hold_the_files() {
        let bytes = tar_files(&[("/etc/x.conf".into(), b"hello".to_vec())]).unwrap();
        let mut ar = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["etc/x.conf"]);
    }
}
