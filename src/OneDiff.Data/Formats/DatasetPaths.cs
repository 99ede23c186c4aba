namespace OneDiff.Data.Formats;

/// <summary>Resolves a dataset's relative paths, refusing any that leave the dataset root.</summary>
public static class DatasetPaths
{
    /// <returns>the absolute path, or null after reporting a problem (skip mode).</returns>
    /// <param name="allowAbsolute">accept an absolute path as given (DiffCap files may point anywhere
    /// explicitly); relative paths must still stay inside the root.</param>
    public static string? Resolve(string root, string relative, string record, DataReport report, bool allowAbsolute = false)
    {
        if (allowAbsolute && Path.IsPathRooted(relative)) return Path.GetFullPath(relative);
        string rootFull = Path.GetFullPath(root);
        string full = Path.GetFullPath(Path.Combine(rootFull, relative));
        string withSep = rootFull.EndsWith(Path.DirectorySeparatorChar) ? rootFull : rootFull + Path.DirectorySeparatorChar;
        if (!full.StartsWith(withSep, StringComparison.Ordinal))
        {
            report.Problem(record, relative, $"path leaves the dataset root {rootFull}");
            return null;
        }
        return full;
    }
}
