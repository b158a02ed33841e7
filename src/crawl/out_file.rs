use std::path::{Path, PathBuf};
pub(crate) struct OutFile(std::fs::File, PathBuf);
impl OutFile {
    pub(crate) fn create(dir: &Path, rel: &Path) -> std::io::Result<OutFile> {
        let p = dir.join(rel);
        Ok(OutFile(std::fs::File::create(&p)?, p))
    }
    pub(crate) fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.0, b)
    }
    pub(crate) fn commit(self) -> std::io::Result<PathBuf> {
        Ok(self.1)
    }
}
