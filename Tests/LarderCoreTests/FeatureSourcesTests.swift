import Features
import Foundation
import LarderCore
import Testing

@Suite struct FeatureSourcesTests {
    @Test func changesNameAddedRemovedAndChangedFilesByPath() {
        let built = FeatureSources(
            module: "Features", folder: "/repo/features", files: ["A.swift": "a", "B.swift": "b", "sub/C.swift": "c"])
        #expect(built.changes(comparedWith: built.files).isEmpty)
        let now = ["A.swift": "a", "B.swift": "b changed", "sub/D.swift": "d"]
        #expect(
            built.changes(comparedWith: now).map(\.description) == ["changed: B.swift", "removed: sub/C.swift", "added: sub/D.swift"])
        // A file moved to another folder is one removed and one added.
        #expect(
            built.changes(comparedWith: ["A.swift": "a", "B.swift": "b", "C.swift": "c"]).map(\.description) == [
                "added: C.swift", "removed: sub/C.swift",
            ])
        #expect(built.textsByFileID == ["Features/A.swift": "a", "Features/B.swift": "b", "Features/C.swift": "c"])
    }

    /// The build embeds the folder's absolute path and every file's text, by relative path.
    @Test func theBuildEmbedsTheFolderAndItsFiles() throws {
        let sources = Features.featureSources
        #expect(sources.module == "Features")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        #expect(sources.folder == repository.appendingPathComponent("features").standardizedFileURL.path)
        #expect(sources.files.keys.sorted() == ["Driver.swift", "DriverStats.swift", "Repository.swift", "Trips.swift"])
        for (path, text) in sources.files {
            #expect(try String(contentsOfFile: sources.folder + "/" + path, encoding: .utf8) == text, "\(path)")
        }
        #expect(Features.featureSourceTexts["Features/Trips.swift"] == sources.files["Trips.swift"])
    }
}
