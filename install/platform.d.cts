export declare const ERROR_CODE: 'UVD_ERR_UNSUPPORTED_PLATFORM';
export declare function platform(): string;
export declare function isSupported(): boolean;
export declare function libc(): string;
export declare function target(): string;
export declare function unsupportedMessage(): string;
export declare function toolchainHint(): string;
