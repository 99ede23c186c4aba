namespace OneDiff.Data.Images;

/// <summary>An image as a table gives it: a file path, encoded bytes, already decoded pixels, or
/// pixels kept on disk until needed.</summary>
public sealed record ImageInput
{
    public string? Path { get; init; }
    public byte[]? Bytes { get; init; }
    public RgbImage? Decoded { get; init; }
    /// <summary>Reads the pixels back from where they were put aside (<see cref="ImageSpill"/>).</summary>
    public Func<RgbImage>? Load { get; init; }
    /// <summary>How errors name it (the path, or the row and column).</summary>
    public required string Name { get; init; }

    public static ImageInput FromPath(string path) => new() { Path = path, Name = path };
    public static ImageInput FromBytes(byte[] bytes, string name) => new() { Bytes = bytes, Name = name };
    public static ImageInput FromPixels(RgbImage image, string name) => new() { Decoded = image, Name = name };

    public RgbImage Decode()
    {
        if (Decoded is not null) return Decoded;
        if (Load is not null) return Load();
        if (Path is not null) return ImageDecoder.Decode(Path);
        if (Bytes is null || Bytes.Length == 0) throw new InvalidDataException($"{Name}: the image is empty");
        return ImageDecoder.Decode(Bytes, Name);
    }
}
