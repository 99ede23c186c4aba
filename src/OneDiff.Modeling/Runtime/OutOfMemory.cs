namespace OneDiff.Modeling.Runtime;

/// <summary>libtorch's failed allocations, recognised whatever exception type TorchSharp wraps
/// them in: CUDA's caching allocator says "out of memory", the CPU allocator "can't allocate memory".</summary>
public static class OutOfMemory
{
    /// <summary>Whether <paramref name="e"/> or an exception inside it is a failed allocation.</summary>
    public static bool Is(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) || x.Message.Contains("can't allocate memory", StringComparison.Ordinal))
                return true;
        return false;
    }

    /// <summary>The allocator's own words: the first line of the innermost failed allocation's
    /// message, without libtorch's stack of frames.</summary>
    public static string Reason(Exception e)
    {
        Exception found = e;
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) || x.Message.Contains("can't allocate memory", StringComparison.Ordinal))
                found = x;
        return found.Message.Split('\n', 2)[0].Trim();
    }
}
