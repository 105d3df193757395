import PackagePlugin

/// Embeds the text of a target's Swift files in the target itself, as `featureSources` (a
/// LarderCore `FeatureSources`: the target's folder, an absolute path, and each file's text
/// by its path relative to it) and `featureSourceTexts` (the texts by `#fileID`), so that a
/// definition's fingerprint can include its transformation code (see LarderCore's
/// `TransformationCode`), and commands can tell when the folder changed since the build.
/// Runs on every build in which a file of the target changed.
@main
struct EmbedSources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let files = target.sourceFiles(withSuffix: "swift").map(\.url)
        let output = context.pluginWorkDirectoryURL.appending(path: "FeatureSourceTexts.swift")
        return [
            .buildCommand(
                displayName: "Embedding the source text of \(target.name)",
                executable: try context.tool(named: "embed-sources").url,
                arguments: [target.moduleName, target.directoryURL.path, output.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
