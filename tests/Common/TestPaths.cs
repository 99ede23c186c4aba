namespace OneDiff.Tests.Common;

/// <summary>Where the tests find the repository's fixtures and the optional ../shared folder.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>The Hugging Face reference cases: ONEDIFF_HF_FIXTURES when set, else the copy in the tests.</summary>
    public static string HfFixtures =>
        Environment.GetEnvironmentVariable("ONEDIFF_HF_FIXTURES") is { Length: > 0 } dir ? dir : Path.Combine(Fixtures, "hf-reference");

    /// <summary>The shared folder beside the checkout (ONEDIFF_SHARED overrides), or null when absent.</summary>
    public static string? Shared
    {
        get
        {
            string dir = Environment.GetEnvironmentVariable("ONEDIFF_SHARED") is { Length: > 0 } s ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(dir) ? dir : null;
        }
    }

    /// <summary>A path under ../shared, or a skip with the reason when it is absent.</summary>
    public static string RequireShared(params string[] parts)
    {
        var shared = Shared;
        string path = shared is null ? "" : Path.Combine([shared, .. parts]);
        if (shared is null || !(File.Exists(path) || Directory.Exists(path)))
            Xunit.Assert.Skip($"needs ../shared/{string.Join('/', parts)} (the project's shared data), which is absent on this machine");
        return path;
    }

    /// <summary>A new empty folder in the system's temp folder, deleted when the test process ends
    /// (ONEDIFF_KEEP_TEST_FILES=1 keeps it, to look at what a test wrote).</summary>
    public static string NewTempDir(string prefix)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"onediff-{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        Created.Add(dir);
        return dir;
    }

    static readonly System.Collections.Concurrent.ConcurrentBag<string> Created = [];

    static TestPaths() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        if (Environment.GetEnvironmentVariable("ONEDIFF_KEEP_TEST_FILES") == "1") return;
        foreach (var dir in Created)
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // still open elsewhere: left for the system
        }
    };

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OneDiff.MLNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"OneDiff.MLNet.sln not found above {AppContext.BaseDirectory}");
    }
}
