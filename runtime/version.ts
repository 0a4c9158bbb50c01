/** The version reported in banners, the greeting and the API. */
export const VERSION = '0.1.0';
